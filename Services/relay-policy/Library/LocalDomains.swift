/// The domains this host receives mail for (sendmail's class w with virtuser-domains): its
/// own names, and the virtual domains from the file or, with `maps.backend: pgsql`, from the
/// shared table (`table`, asked with the domain in lower case; throwing is "cannot say now",
/// which the policy answers with a 4xx).
public struct LocalDomains: Sendable, ExpressibleByArrayLiteral {
    public var names: Set<String>
    public var table: (@Sendable (String) throws -> Bool)?

    public init(names: Set<String>, table: (@Sendable (String) throws -> Bool)? = nil) {
        self.names = Set(names.map { $0.lowercased() })
        self.table = table
    }

    public init(arrayLiteral names: String...) {
        self.init(names: Set(names))
    }

    /// Whether `domain` (lower case) is one of ours.
    public func contains(_ domain: String) throws -> Bool {
        if names.contains(domain) { return true }
        return try table?(domain) ?? false
    }
}
