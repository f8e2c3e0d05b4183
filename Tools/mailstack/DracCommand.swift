import ArgumentParser
import Foundation
import IPC

/// `mailstack drac list | add IP | del IP | flush`: the POP-before-SMTP registry, for
/// administrators (add, del and flush need root, the registry's user, or ipc.admin_group).
struct DracCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drac",
        abstract: "List and edit drac-registry (POP-before-SMTP) entries.",
        subcommands: [List.self, Add.self, Del.self, Flush.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List authorized addresses and their expiry.")
        @OptionGroup var options: ServiceOptions

        func run() async throws {
            try await reporting {
                let reply = try await withService("drac-registry", options: options) { try await $0.request(.dracList(.init())) }
                guard case let .dracEntries(list) = reply else { throw AdminError(code: 70, message: "unexpected reply") }
                let now = Int64(Date().timeIntervalSince1970)
                for entry in list.entries {
                    let expiry = Date(timeIntervalSince1970: TimeInterval(entry.expires))
                    print("\(entry.address)\t\(expiry.formatted(.iso8601))\t\(max(0, entry.expires - now))s")
                }
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Authorize an address for the drac window.")
        @OptionGroup var options: ServiceOptions
        @Argument(help: "IPv4 or IPv6 address.") var address: String

        func run() async throws {
            try await reporting {
                let request = IPCBody.dracAdd(.with { $0.address = address })
                let reply = try await withService("drac-registry", options: options) { try await $0.request(request) }
                guard case let .dracEntry(entry) = reply else { throw AdminError(code: 70, message: "unexpected reply") }
                print("\(entry.address) authorized until \(Date(timeIntervalSince1970: TimeInterval(entry.expires)).formatted(.iso8601))")
            }
        }
    }

    struct Del: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an address.")
        @OptionGroup var options: ServiceOptions
        @Argument(help: "IPv4 or IPv6 address.") var address: String

        func run() async throws {
            try await reporting {
                let request = IPCBody.dracDelete(.with { $0.address = address })
                let reply = try await withService("drac-registry", options: options) { try await $0.request(request) }
                guard case let .dracCount(count) = reply else { throw AdminError(code: 70, message: "unexpected reply") }
                print(count.count == 1 ? "\(address) removed" : "\(address) was not present")
            }
        }
    }

    struct Flush: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove every address.")
        @OptionGroup var options: ServiceOptions

        func run() async throws {
            try await reporting {
                let reply = try await withService("drac-registry", options: options) { try await $0.request(.dracFlush(.init())) }
                guard case let .dracCount(count) = reply else { throw AdminError(code: 70, message: "unexpected reply") }
                print("\(count.count) entries removed")
            }
        }
    }
}
