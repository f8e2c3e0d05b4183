/// The result of checking one DKIM-Signature, in RFC 8601's vocabulary (2.7.1).
public struct DKIMResult: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        /// The signature verified.
        case pass
        /// The signature or the body hash did not verify.
        case fail
        /// The signature field is malformed (a missing or bad tag) or not of a kind we read.
        case neutral
        /// The signature is well-formed but not acceptable to us (rsa-sha1, an RSA key outside
        /// 1024-4096 bits).
        case policy
        /// The key could not be fetched for now (DNS timeout, SERVFAIL): try again later; never
        /// a reason to reject.
        case temperror
        /// The key record is missing, revoked or unusable, or the signature expired.
        case permerror
    }

    /// A result without a verified signature: its kind and why.
    public struct Failure: Error, Sendable, Equatable {
        public var kind: Kind
        public var reason: String
        init(_ kind: Kind, _ reason: String) {
            self.kind = kind
            self.reason = reason
        }
    }

    public var kind: Kind
    /// d=, s=, a= as the signature gave them (lower case; empty when missing or unreadable).
    public var domain: String
    public var selector: String
    public var algorithm: String
    /// The first 8 characters of b= (RFC 6008's header.b, telling apart signatures of one domain).
    public var headerB: String
    /// Why, for a log line or a comment (printable ASCII only); empty for pass.
    public var reason: String
    /// The key record says t=y (the domain is testing).
    public var testing: Bool

    public init(kind: Kind, domain: String, selector: String, algorithm: String, headerB: String, reason: String, testing: Bool = false) {
        self.kind = kind
        self.domain = domain
        self.selector = selector
        self.algorithm = algorithm
        self.headerB = headerB
        self.reason = reason
        self.testing = testing
    }

    /// The method's part of an Authentication-Results field:
    /// `dkim=pass header.d=example.com header.s=sel header.a=rsa-sha256 header.b=AbCdEf12`,
    /// with the reason as a comment when there is one.
    public var authenticationResult: String {
        var out = "dkim=\(kind.rawValue)"
        if !reason.isEmpty { out += " (\(reason.replacingOccurrences(of: "(", with: "[").replacingOccurrences(of: ")", with: "]")))" }
        if !domain.isEmpty { out += " header.d=\(domain)" }
        if !selector.isEmpty { out += " header.s=\(selector)" }
        if !algorithm.isEmpty { out += " header.a=\(algorithm)" }
        if !headerB.isEmpty { out += " header.b=\(headerB)" }
        return out
    }

    public var description: String { authenticationResult }
}
