import MailstackMaps

/// sendmail's mailertable (cf/README "mailertable"): the route for a recipient domain. Keys are
/// tried as the full host, then `.b.c`, `.c` for its parent domains, then `.` (the default).
///
///     smtp:host        deliver by SMTP to host (MX lookup)
///     smtp:[host]      to that host itself, no MX lookup
///     smtp:[host]:port   ... on that port
///     local:user       deliver locally to user
///     error:D.S.N:text refuse
public struct MailerTable: Sendable {
    public enum Route: Equatable, Sendable {
        case smtp(host: String, mxLookup: Bool, port: Int?)
        case local(user: String)
        case error(code: Int, enhanced: String, text: String)
    }

    public struct Match: Equatable, Sendable {
        public var key: String
        public var route: Route

        public init(key: String, route: Route) {
            self.key = key
            self.route = route
        }
    }

    public enum Failure: Error, Equatable {
        case badRoute(key: String, value: String)
    }

    let lookup: MapLookup

    /// `map.lookup` for a map file; a closure over a dictionary in tests.
    public init(lookup: @escaping MapLookup) { self.lookup = lookup }

    public static func keys(for domain: String) -> [String] {
        var labels = domain.lowercased().trimmingTrailingDot().split(separator: ".").map(String.init)
        var keys = [labels.joined(separator: ".")]
        labels = Array(labels.dropFirst()) // "" and "." have no labels at all
        while !labels.isEmpty {
            keys.append("." + labels.joined(separator: "."))
            labels.removeFirst()
        }
        keys.append(".")
        return keys
    }

    /// The route for `domain`, or nil when the mailertable has none (normal MX routing).
    public func route(_ domain: String) throws -> Match? {
        for key in Self.keys(for: domain) {
            guard let value = try lookup(key) else { continue }
            guard let route = Self.parse(value) else { throw Failure.badRoute(key: key, value: value) }
            return Match(key: key, route: route)
        }
        return nil
    }

    static func parse(_ value: String) -> Route? {
        let trimmed = value.trimmingWhitespace()
        guard let colon = trimmed.firstIndex(of: ":") else { return nil }
        let mailer = trimmed[..<colon].lowercased()
        let target = String(trimmed[trimmed.index(after: colon)...])
        switch mailer {
        case "smtp", "esmtp", "smtp8", "dsmtp", "relay", "smtpf":
            if target.hasPrefix("[") {
                guard let close = target.firstIndex(of: "]") else { return nil }
                let host = String(target[target.index(after: target.startIndex)..<close])
                let after = target[target.index(after: close)...]
                var port: Int?
                if after.hasPrefix(":") {
                    guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { return nil }
                    port = p
                } else if !after.isEmpty {
                    return nil
                }
                return host.isEmpty ? nil : .smtp(host: host, mxLookup: false, port: port)
            }
            return target.isEmpty ? nil : .smtp(host: target.lowercased(), mxLookup: true, port: nil)
        case "local":
            return .local(user: target)
        case "error":
            guard case let .error(code, enhanced, text) = VirtualUserTable.parseError(target) else { return nil }
            return .error(code: code, enhanced: enhanced, text: text)
        default:
            return nil
        }
    }
}
