import ArgumentParser
import Foundation
import IPC
import IPCTransport
import Logging
import MailstackConfig

/// Options shared by subcommands that talk to a service.
struct ServiceOptions: ParsableArguments {
    @Option(help: "Configuration file (default: /etc/mailstack/mailstack.yaml if it exists).") var config: String?
    @Option(name: .customLong("set"), help: "Override one configuration key: section.key=value.") var overrides: [String] = []
    @Option(help: "The service's socket (default: <ipc.directory>/<service>.sock).") var socket: String?

    func socketPath(for service: String) throws -> String {
        if let socket { return socket }
        var file = config
        if file == nil, FileManager.default.isReadableFile(atPath: "/etc/mailstack/mailstack.yaml") {
            file = "/etc/mailstack/mailstack.yaml"
        }
        do {
            return try ConfigLoader.load(file: file, overrides: overrides).socketPath(for: service)
        } catch {
            throw AdminError(code: 78, message: "\(error)")
        }
    }
}

struct AdminError: Error, CustomStringConvertible {
    var code: Int32
    var message: String
    var description: String { message }
}

/// Runs `body` with a client connected to `service`; maps failures to sysexits codes:
/// 69 unavailable, 77 permission denied, 65 bad request, 66 not found, 70 other.
func withService<T: Sendable>(
    _ service: String, options: ServiceOptions, _ body: @Sendable (IPCClient) async throws -> T
) async throws -> T {
    let path = try options.socketPath(for: service)
    var logger = Logger(label: "mailstack.admin")
    logger.logLevel = .critical
    let client = IPCClient(configuration: .init(path: path, service: service, clientName: IPCServiceName.admin,
                                                requestTimeout: .seconds(10)), logger: logger)
    do {
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { await client.run(); return nil }
            defer { group.cancelAll() }
            return try await body(client)
        }
    } catch let error as IPCError {
        switch error {
        case let .remote(code, message):
            let kind = Mailstack_Ipc_Error.Code(rawValue: code)
            let exit: Int32 = switch kind {
            case .permissionDenied?: 77
            case .badRequest?: 65
            case .notFound?: 66
            default: 70
            }
            throw AdminError(code: exit, message: "\(service): \(message)")
        default:
            throw AdminError(code: error.isUnavailable ? 69 : 70, message: "\(error) (socket \(path))")
        }
    }
}

extension AsyncParsableCommand {
    /// Prints an AdminError and exits with its code.
    func reporting(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as AdminError {
            FileHandle.standardError.write(Data("mailstack: \(error.message)\n".utf8))
            throw ExitCode(error.code)
        }
    }
}
