/// The outcome of an SPF check (RFC 7208 2.6) with the reason, for the log and the
/// Authentication-Results: comment.
public struct SPFResult: Equatable, Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case none, neutral, pass, fail, softfail, temperror, permerror
    }

    public var kind: Kind
    public var reason: String

    public init(_ kind: Kind, _ reason: String = "") {
        self.kind = kind
        self.reason = reason
    }
}

/// The identity an SPF check was made for (RFC 7208 2.3, 2.4): MAIL FROM, or HELO for the null
/// sender (as postmaster@helo).
public struct SPFCheck: Equatable, Sendable {
    public enum Identity: String, Sendable {
        case mailfrom, helo
    }

    public var identity: Identity
    /// The address checked (the sender, or postmaster@helo) and its domain.
    public var sender: String
    public var domain: String
    public var result: SPFResult

    public init(identity: Identity, sender: String, domain: String, result: SPFResult) {
        self.identity = identity
        self.sender = sender
        self.domain = domain
        self.result = result
    }
}
