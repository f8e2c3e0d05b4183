import MailstackMaps

/// sendmail's access map, with sendmail's order of lookups (cf/README and proto.m4's D and A
/// rulesets): for a tag such as `Connect`, the host name label by label, the tagged key before
/// the bare one (`Connect:a.b.c`, `a.b.c`, `Connect:b.c`, `b.c`, ...), then the address:
/// IPv4 octet by octet (`Connect:69.6.66.33`, `69.6.66.33`, `Connect:69.6.66`, ... `69`), IPv6
/// as `IPv6:` keys group by group. The first key found decides; `SKIP` ends the search with
/// no decision for that part.
public struct AccessMap: Sendable {
    public enum Tag: String, Sendable {
        case connect = "Connect"
        case from = "From"
        case to = "To"
    }

    public struct Match: Equatable, Sendable {
        public var key: String
        public var action: AccessAction

        public init(key: String, action: AccessAction) {
            self.key = key
            self.action = action
        }
    }

    let lookup: MapLookup

    /// `map.lookup` for a map file; a closure over a dictionary in tests.
    public init(lookup: @escaping MapLookup) { self.lookup = lookup }

    /// The keys tried for a client, in order: its name (if it resolved) then its address.
    public static func connectKeys(name: String?, address: String, tag: Tag = .connect) -> [[String]] {
        var groups: [[String]] = []
        if let name, !name.isEmpty, !name.hasPrefix("[") { groups.append(domainKeys(name, tag: tag)) }
        groups.append(addressKeys(address, tag: tag))
        return groups
    }

    /// `tag:a.b.c`, `a.b.c`, `tag:b.c`, `b.c`, `tag:c`, `c` (a trailing dot ignored, lower case).
    public static func domainKeys(_ domain: String, tag: Tag?) -> [String] {
        var labels = domain.lowercased().split(separator: ".").map(String.init)
        var keys: [String] = []
        while !labels.isEmpty {
            let name = labels.joined(separator: ".")
            if let tag { keys.append("\(tag.rawValue):\(name)") }
            keys.append(name)
            labels.removeFirst()
        }
        return keys
    }

    /// IPv4: `tag:a.b.c.d`, `a.b.c.d`, `tag:a.b.c`, ... `a`. IPv6: `tag:IPv6:x:...`,
    /// `IPv6:x:...`, then with fewer groups.
    public static func addressKeys(_ address: String, tag: Tag?) -> [String] {
        let isV6 = address.contains(":")
        let separator: Character = isV6 ? ":" : "."
        var parts = address.lowercased().split(separator: separator, omittingEmptySubsequences: false).map(String.init)
        var keys: [String] = []
        while !parts.isEmpty {
            let joined = (isV6 ? "IPv6:" : "") + parts.joined(separator: String(separator))
            if let tag { keys.append("\(tag.rawValue):\(joined)") }
            keys.append(joined)
            parts.removeLast()
            while parts.last == "" { parts.removeLast() } // "a::" trims to "a"
        }
        return keys
    }

    /// The first entry among `groups` (each searched in order; SKIP ends a group).
    public func decide(_ groups: [[String]]) throws -> Match? {
        for keys in groups {
            for key in keys {
                guard let value = try lookup(key), let action = AccessAction(value) else { continue }
                if action == .skip { break }
                return Match(key: key, action: action)
            }
        }
        return nil
    }

    /// check_relay's access part for a connecting client.
    public func connect(name: String?, address: String) throws -> Match? {
        try decide(Self.connectKeys(name: name, address: address))
    }
}
