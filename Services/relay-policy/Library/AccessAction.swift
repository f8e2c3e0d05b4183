/// A right-hand side of sendmail's access map (cf/README, "access_db").
///
///     OK | RELAY | REJECT | DISCARD | SKIP
///     ERROR:D.S.N:### text | ERROR:### text | ERROR:"### text" | ### text
public enum AccessAction: Equatable, Sendable {
    case ok
    case relay
    case reject
    case discard
    case skip
    /// An explicit reply: `code` 4xx or 5xx, `enhanced` D.S.N (nil: derived from the code).
    case error(code: Int, enhanced: String?, text: String)

    /// Parses a right-hand side; nil when it is none of the above (such an entry is ignored,
    /// as sendmail ignores values it does not know).
    public init?(_ value: String) {
        let trimmed = value.trimmingWhitespace()
        switch trimmed.uppercased() {
        case "OK": self = .ok
        case "RELAY": self = .relay
        case "REJECT": self = .reject
        case "DISCARD": self = .discard
        case "SKIP": self = .skip
        default:
            var rest = Substring(trimmed)
            if rest.uppercased().hasPrefix("ERROR:") { rest = rest.dropFirst(6) }
            if rest.hasPrefix("\""), rest.hasSuffix("\""), rest.count >= 2 { rest = rest.dropFirst().dropLast() }
            var enhanced: String?
            if let colon = rest.firstIndex(of: ":"), Self.isDSN(rest[..<colon]) {
                enhanced = String(rest[..<colon])
                rest = rest[rest.index(after: colon)...]
            }
            let codeText = rest.prefix(3)
            guard codeText.count == 3, let code = Int(codeText), (400...599).contains(code) else { return nil }
            rest = rest.dropFirst(3)
            self = .error(code: code, enhanced: enhanced, text: String(rest).trimmingWhitespace())
        }
    }

    /// D.S.N with D 2, 4 or 5 and numbers of at most three digits.
    static func isDSN(_ text: Substring) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 3 && ["2", "4", "5"].contains(parts[0])
            && parts.allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isNumber) }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
