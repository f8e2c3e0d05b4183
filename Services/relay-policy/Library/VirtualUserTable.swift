import MailstackMaps
import SMTP

/// sendmail's virtusertable (cf/README "virtusertable"), for the domains listed in
/// virtuser-domains. For `user+detail@dom` the keys are tried in this order:
///
///     user+detail@dom, user++@dom (only when detail is empty), user+*@dom, user@dom,
///     @dom (with %1 = user, %2 = detail, %3 = +detail)
///
/// A right-hand side is a local user, a remote address (relayed onward), `error:D.S.N:text` /
/// `error:code text`, or a `%n` template.
public struct VirtualUserTable: Sendable {
    public enum Result: Equatable, Sendable {
        /// Deliver to this local user.
        case local(String)
        /// Forward to this address (another domain: relayed onward).
        case forward(String)
        /// Refuse: reply code, enhanced code, text.
        case error(code: Int, enhanced: String, text: String)
    }

    public struct Match: Equatable, Sendable {
        public var key: String
        public var result: Result

        public init(key: String, result: Result) {
            self.key = key
            self.result = result
        }
    }

    let lookup: MapLookup

    /// `map.lookup` for a map file; a closure over a dictionary in tests.
    public init(lookup: @escaping MapLookup) { self.lookup = lookup }

    public func resolve(user: String, domain: String) throws -> Match? {
        let domain = domain.lowercased().trimmingTrailingDot()
        let (base, detail) = Self.split(user)
        var keys: [(String, String?)] = [] // key, detail for %2
        if let detail {
            keys.append(("\(base)+\(detail)@\(domain)", detail))
            if detail.isEmpty { keys.append(("\(base)++@\(domain)", detail)) }
            keys.append(("\(base)+*@\(domain)", detail))
        }
        keys.append(("\(base)@\(domain)", detail))
        keys.append(("@\(domain)", detail))
        for (key, detail) in keys {
            guard let value = try lookup(key) else { continue }
            let expanded = Self.substitute(value, user: base, detail: detail)
            return Match(key: key, result: Self.interpret(expanded))
        }
        return nil
    }

    /// `user+detail` -> ("user", "detail"); `user` -> ("user", nil).
    static func split(_ user: String) -> (String, String?) {
        guard let plus = user.firstIndex(of: "+") else { return (user, nil) }
        return (String(user[..<plus]), String(user[user.index(after: plus)...]))
    }

    static func substitute(_ value: String, user: String, detail: String?) -> String {
        var out = ""
        var iterator = value.makeIterator()
        while let c = iterator.next() {
            guard c == "%", let n = iterator.next() else { out.append(c); continue }
            switch n {
            case "1": out += user
            case "2": out += detail ?? ""
            case "3": out += detail.map { "+" + $0 } ?? ""
            case "%": out += "%"
            default: out += "%" + String(n)
            }
        }
        return out
    }

    static func interpret(_ value: String) -> Result {
        let trimmed = value.trimmingWhitespace()
        if trimmed.lowercased().hasPrefix("error:") {
            return parseError(String(trimmed.dropFirst(6)))
        }
        if trimmed.contains("@") { return .forward(trimmed) }
        return .local(trimmed)
    }

    /// `5.5.1:Unknown user`, `nouser User unknown`, `550 text`, `5.1.1:550 text`.
    static func parseError(_ text: String) -> Result {
        var rest = Substring(text)
        var enhanced: String?
        if let colon = rest.firstIndex(of: ":"), AccessAction.isDSN(rest[..<colon]) {
            enhanced = String(rest[..<colon])
            rest = rest[rest.index(after: colon)...]
        }
        var code: Int?
        if let c = Int(rest.prefix(3)), (400...599).contains(c), rest.count == 3 || rest.dropFirst(3).first == " " {
            code = c
            rest = rest.dropFirst(3)
        } else if rest.lowercased().hasPrefix("nouser") {
            code = 550
            enhanced = enhanced ?? "5.1.1"
            rest = rest.dropFirst(6)
        }
        let resolvedEnhanced = enhanced ?? SMTPReply.defaultEnhanced(for: code ?? 550)
        let resolvedCode = code ?? (resolvedEnhanced.hasPrefix("4") ? 450 : 550)
        let message = String(rest).trimmingWhitespace()
        return .error(code: resolvedCode, enhanced: resolvedEnhanced, text: message.isEmpty ? "User unknown" : message)
    }
}

extension String {
    func trimmingTrailingDot() -> String { hasSuffix(".") ? String(dropLast()) : self }
}
