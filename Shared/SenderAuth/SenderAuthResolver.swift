/// The DNS that SPF and DMARC need, injected: the service passes an adapter over Shared/DNS
/// (or relay-policy over IPC), tests a real server on loopback. Answers are what the server
/// said: an empty array is NODATA (the name exists, without records of the type).
public protocol SenderAuthResolver: TXTResolver {
    /// A (v6 false) or AAAA (v6 true) addresses of a name.
    func addresses(_ name: String, v6: Bool) async throws(DNSLookupError) -> [IPAddress]
    /// MX exchange names of a domain (any order).
    func mx(_ name: String) async throws(DNSLookupError) -> [String]
    /// PTR names of an address.
    func ptr(_ address: IPAddress) async throws(DNSLookupError) -> [String]
}

/// TXT only: what DMARC (and DKIM's key lookups) need; smtp-in asks relay-policy for it.
public protocol TXTResolver: Sendable {
    /// TXT records of a name, each one record's strings concatenated (RFC 7208 3.3).
    func txt(_ name: String) async throws(DNSLookupError) -> [String]
}

/// Why a lookup has no answer. Only `temporary` makes a result temperror; the others are
/// answers (the name does not exist, or the server refuses it for good).
public enum DNSLookupError: Error, Equatable, Sendable {
    case nxdomain
    case temporary(String)
    case failed(String)
}
