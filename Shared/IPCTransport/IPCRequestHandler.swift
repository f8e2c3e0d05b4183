import IPC
import NIOCore

/// One request as a service sees it: the body, its id, and who sent it (kernel credentials).
public struct IPCRequest: Sendable {
    public let id: UInt64
    public let body: IPCBody
    public let peer: IPCPeer
}

/// A service's answer to the requests of its IPC socket. The server handles hello, ping,
/// framing, ids and streams; the service only answers requests.
public protocol IPCRequestHandler: Sendable {
    /// Answers one request. `stream` is non-nil when the request announced a body
    /// (stream_follows): it yields the body's chunks in order and throws if the sender aborted or
    /// the connection was lost before the last chunk, so a partial body is never taken as whole.
    func handle(_ request: IPCRequest, stream: IPCBodyStream?) async throws -> IPCBody
}

/// An error a handler throws to answer with a specific Error code.
public struct IPCHandlerError: Error, Sendable, CustomStringConvertible {
    public var code: Mailstack_Ipc_Error.Code
    public var message: String

    public init(_ code: Mailstack_Ipc_Error.Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
