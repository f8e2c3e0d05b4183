import DNS
import SMTP

/// What relay-policy decides for a connection, a sender or a recipient.
public enum PolicyDecision: Equatable, Sendable {
    /// Go on. `relay` is true when this client may relay (connect decisions).
    case accept(relay: Bool)
    /// Accept and throw the message away (access DISCARD).
    case discard
    case reject(SMTPReply)

    public var reply: SMTPReply? {
        if case let .reject(reply) = self { return reply }
        return nil
    }
}

/// sendmail's {client_resolve}: the result of reverse-resolving a client and forward-confirming
/// the name (Shared/DNS does the lookups).
public typealias ClientResolve = ClientResolution

extension ClientResolution {
    /// sendmail's {client_name}: the name, or "[address]".
    public func clientName(address: String) -> String {
        switch self {
        case let .ok(name), let .forged(name): return name
        case .fail, .temp: return "[\(address)]"
        }
    }
}
