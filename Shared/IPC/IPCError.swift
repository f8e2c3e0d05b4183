/// Plumbing errors of the IPC protocol: what went wrong with frames, connections or peers.
/// (Mail replies are a different kind of error and live with the services.)
public enum IPCError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A frame announced a length above the receiver's cap; nothing was allocated.
    case frameTooLarge(length: Int, max: Int)
    /// The connection ended in the middle of a frame.
    case truncatedFrame(have: Int, need: Int)
    /// The payload is not a valid Envelope.
    case undecodable(String)
    /// The first frame was not a hello, or the hello was not acceptable.
    case badHello(String)
    /// The peer speaks another protocol version.
    case versionMismatch(ours: UInt32, theirs: UInt32, peer: String)
    /// The peer could not be reached (not listening, restarting, backing off). Callers answer
    /// their own clients with a temporary error.
    case peerUnavailable(service: String, reason: String)
    /// The connection to the peer was lost while this request was in flight.
    case connectionLost(service: String)
    /// The peer did not answer within the request's deadline.
    case timeout(service: String, seconds: Double)
    /// The peer answered with an Error body.
    case remote(code: Int, message: String)
    /// The peer sent something that breaks the conversation's rules.
    case protocolViolation(String)
    /// The sender of a stream gave up before its end; what arrived is to be discarded.
    case streamAborted

    public var description: String {
        switch self {
        case let .frameTooLarge(length, max): return "frame of \(length) octets exceeds the limit of \(max)"
        case let .truncatedFrame(have, need): return "connection closed inside a frame (\(have) of \(need) octets)"
        case let .undecodable(why): return "frame does not decode: \(why)"
        case let .badHello(why): return "bad hello: \(why)"
        case let .versionMismatch(ours, theirs, peer):
            return "protocol version mismatch: we speak \(ours), \(peer) speaks \(theirs)"
        case let .peerUnavailable(service, reason): return "\(service) unavailable: \(reason)"
        case let .connectionLost(service): return "connection to \(service) lost"
        case let .timeout(service, seconds): return "\(service) did not answer within \(seconds)s"
        case let .remote(code, message): return "peer error \(code): \(message)"
        case let .protocolViolation(why): return "protocol violation: \(why)"
        case .streamAborted: return "stream aborted by the sender"
        }
    }

    /// True when the failure is about reaching the peer at all (answer 4xx, try again later).
    public var isUnavailable: Bool {
        switch self {
        case .peerUnavailable, .connectionLost, .timeout: return true
        default: return false
        }
    }
}
