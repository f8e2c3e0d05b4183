import ArgumentParser
import Foundation
import IPC

/// `mailstack mailq`: the queue's contents in sendmail's mailq layout, for administrators only
/// (restrictmailq: root, the queue's user, ipc.admin_group).
struct MailqCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mailq", abstract: "List the messages in the queue.")
    @OptionGroup var options: ServiceOptions

    func run() async throws {
        try await reporting {
            let reply = try await withService("queue", options: options) { try await $0.request(.queueList(.init())) }
            guard case let .queueListing(listing) = reply else { throw AdminError(code: 70, message: "unexpected reply") }
            print(Self.format(listing.entries, now: Int64(Date().timeIntervalSince1970)), terminator: "")
        }
    }

    /// sendmail's layout: id, size, arrival, sender; the last error in parentheses; one
    /// recipient per line. Ages and next attempts in words an operator reads at a glance.
    static func format(_ entries: [Mailstack_Ipc_QueueEntry], now: Int64) -> String {
        guard !entries.isEmpty else { return "Mail queue is empty\n" }
        var out = "\t\tMail Queue (\(entries.count) request\(entries.count == 1 ? "" : "s"))\n"
        out += "--Q-ID-------- --Size-- ------Age------- -----Sender/Recipient----- (attempts, next)\n"
        for entry in entries {
            let age = duration(now - entry.arrival)
            let next = entry.nextAttempt <= now ? "now" : "in " + duration(entry.nextAttempt - now)
            out += "\(entry.queueID.padding(toLength: 14, withPad: " ", startingAt: 0)) \(String(entry.size).leftPad(8)) "
            out += "\(age.padding(toLength: 16, withPad: " ", startingAt: 0)) <\(entry.sender)> (\(entry.attempts), \(next))\n"
            if !entry.lastError.isEmpty { out += "                (\(entry.lastError))\n" }
            for recipient in entry.recipients { out += "\t\t\t\t\t <\(recipient)>\n" }
        }
        return out
    }

    static func duration(_ seconds: Int64) -> String {
        let s = max(0, seconds)
        if s >= 86400 { return "\(s / 86400)d \(s % 86400 / 3600)h" }
        if s >= 3600 { return "\(s / 3600)h \(s % 3600 / 60)m" }
        if s >= 60 { return "\(s / 60)m \(s % 60)s" }
        return "\(s)s"
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

extension String {
    func leftPad(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
