import DNS

/// A decision's reply, as smtp-in sends it: code, enhanced code, the text the client sees, and
/// the reason for the log (which the client does not see).
public struct PolicyReply: Equatable, Sendable, CustomStringConvertible {
    public var code: Int
    public var enhanced: String
    public var text: String
    public var reason: String

    public init(_ code: Int, _ enhanced: String, _ text: String, reason: String = "") {
        self.code = code
        self.enhanced = enhanced
        self.text = text
        self.reason = reason
    }

    /// `550 5.7.1 Access denied`
    public var description: String { "\(code) \(enhanced) \(text)" }

    public var isTemporary: Bool { code < 500 }
}

/// What relay-policy decides for a connection, a sender or a recipient.
public enum PolicyDecision: Equatable, Sendable {
    /// Go on. `relay` is true when this client may relay (connect decisions).
    case accept(relay: Bool)
    /// Accept and throw the message away (access DISCARD).
    case discard
    case reject(PolicyReply)

    public var reply: PolicyReply? {
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
