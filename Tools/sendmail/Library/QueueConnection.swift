#if canImport(Glibc)
import Glibc
#endif
import IPC
import IPCTransport
import Logging

/// sysexits(3), as sendmail exits.
public enum SysExit {
    public static let ok: Int32 = 0
    public static let usage: Int32 = 64
    public static let dataError: Int32 = 65
    public static let noInput: Int32 = 66
    public static let noUser: Int32 = 67
    public static let unavailable: Int32 = 69
    public static let software: Int32 = 70
    public static let cantCreate: Int32 = 73
    public static let tempFail: Int32 = 75
    public static let noPermission: Int32 = 77
    public static let config: Int32 = 78
}

/// Why the command failed: its exit code and what it says on stderr.
public struct SendmailFailure: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: Int32
    public var message: String
    public init(_ code: Int32, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}

/// The queue as the sendmail command reaches it: submit.sock for messages (any user), the
/// queue's own socket for -bp and -q (administrators, as `mailstack mailq` and `flush`).
enum QueueConnection {
    /// A submission may wait for the queue's fsyncs behind others; a queue that is not there
    /// fails at once (no socket, or nobody listening), not after this.
    static let submitTimeout: Duration = .seconds(120)
    static let adminTimeout: Duration = .seconds(10)

    /// Runs `body` with a client of the queue at `path`.
    static func with<T: Sendable>(path: String, timeout: Duration, _ body: @Sendable (IPCClient) async throws -> T) async throws -> T {
        var logger = Logger(label: "mailstack.sendmail")
        logger.logLevel = .critical
        let client = IPCClient(configuration: .init(path: path, service: IPCServiceName.queue, clientName: "sendmail",
                                                    requestTimeout: timeout), logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { await client.run(); return nil }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    /// A submission's failure as sendmail exits: 75 when the queue cannot be reached or says
    /// "later" (anything it does not say is permanent is temporary), 65 for a message or an
    /// address it refuses, 69 for any other refusal.
    static func submitFailure(_ error: Error, path: String) -> SendmailFailure {
        guard let error = error as? IPCError else { return SendmailFailure(SysExit.tempFail, "\(error); the message was not sent") }
        switch error {
        case let .remote(code, message):
            switch Mailstack_Ipc_Error.Code(rawValue: code) {
            case .badRequest?: return SendmailFailure(SysExit.dataError, message)
            case .tooLarge?, .permissionDenied?, .notFound?: return SendmailFailure(SysExit.unavailable, message)
            default: return SendmailFailure(SysExit.tempFail, "\(message); the message was not sent, try again later")
            }
        default:
            return SendmailFailure(SysExit.tempFail,
                                   "cannot submit: the queue is unavailable (\(error); socket \(path)); the message was not sent, try again later")
        }
    }

    /// -bp and -q as `mailstack mailq` and `flush` exit: 69 the queue is down, 77 not allowed,
    /// 66 no such message.
    static func adminFailure(_ error: Error, path: String) -> SendmailFailure {
        guard let error = error as? IPCError else { return SendmailFailure(SysExit.software, "\(error)") }
        switch error {
        case let .remote(code, message):
            switch Mailstack_Ipc_Error.Code(rawValue: code) {
            case .permissionDenied?: return SendmailFailure(SysExit.noPermission, message)
            case .notFound?: return SendmailFailure(SysExit.noInput, message)
            case .badRequest?: return SendmailFailure(SysExit.dataError, message)
            default: return SendmailFailure(SysExit.software, message)
            }
        default:
            return SendmailFailure(error.isUnavailable ? SysExit.unavailable : SysExit.software, "\(error) (socket \(path))")
        }
    }
}
