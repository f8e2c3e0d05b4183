import ArgumentParser
import Foundation
import IPC
import SendmailCommand

/// `mailstack mailq`: the queue's contents in sendmail's mailq layout, for administrators only
/// (restrictmailq: root, the queue's user, ipc.admin_group).
struct MailqCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mailq", abstract: "List the messages in the queue.")
    @OptionGroup var options: ServiceOptions

    func run() async throws {
        try await reporting {
            let reply = try await withService("queue", options: options) { try await $0.request(.queueList(.init())) }
            guard case let .queueListing(listing) = reply else { throw AdminError(code: 70, message: "unexpected reply") }
            print(MailqListing.format(listing.entries, now: Int64(Date().timeIntervalSince1970)), terminator: "")
        }
    }
}

/// `mailstack flush [queue-id]`: attempt one message, or the whole queue, now (restrictqrun).
struct FlushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "flush", abstract: "Attempt delivery of queued messages now.")
    @OptionGroup var options: ServiceOptions
    @Argument(help: "A queue id from mailq; without it, the whole queue.") var queueID: String?

    func run() async throws {
        try await reporting {
            let request = IPCBody.queueFlush(.with { $0.queueID = queueID ?? "" })
            let reply = try await withService("queue", options: options) { try await $0.request(request) }
            guard case let .queueFlushed(flushed) = reply else { throw AdminError(code: 70, message: "unexpected reply") }
            print("\(flushed.count) message\(flushed.count == 1 ? "" : "s") scheduled for delivery now")
        }
    }
}
