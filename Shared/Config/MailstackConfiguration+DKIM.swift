import Foundation

/// The dkim section: smtpfeed-out's signing keys and the fields it signs.
extension MailstackConfiguration {
    /// One dkim.keys entry: the domain (lowercase), the selector and the key file.
    public struct DKIMKeyEntry: Sendable, Equatable {
        public var domain: String
        public var selector: String
        public var file: String
    }

    public var dkimKeys: [DKIMKeyEntry] { values.list("dkim.keys").compactMap(Self.dkimKeyEntry) }
    public var dkimHeaders: [String] { values.list("dkim.headers").map { $0.lowercased() } }

    /// "domain=selector:/path" -> the entry, or nil when it is not that.
    static func dkimKeyEntry(_ entry: String) -> DKIMKeyEntry? {
        guard let equals = entry.firstIndex(of: "="), let colon = entry[equals...].firstIndex(of: ":") else { return nil }
        let domain = entry[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
        let selector = entry[entry.index(after: equals)..<colon].trimmingCharacters(in: .whitespaces).lowercased()
        let file = entry[entry.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        func isName(_ s: String) -> Bool {
            !s.isEmpty && s.utf8.count <= 253 && s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
                !label.isEmpty && label.count <= 63 && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
            }
        }
        guard isName(domain), isName(selector), file.hasPrefix("/") else { return nil }
        return DKIMKeyEntry(domain: domain, selector: selector, file: file)
    }

    func validateDKIM(_ fail: (String, String) -> ConfigError) throws {
        for entry in values.list("dkim.keys") where Self.dkimKeyEntry(entry) == nil {
            throw fail("dkim.keys", "'\(entry.prefix(80))' is not domain=selector:/absolute/path/to/key")
        }
        let keyed = dkimKeys.map { "\($0.domain)=\($0.selector)" }
        if Set(keyed).count != keyed.count { throw fail("dkim.keys", "a domain's selector is listed twice") }
        for name in dkimHeaders where name.isEmpty || name.contains(":") || !name.allSatisfy({ $0.isASCII && !$0.isWhitespace }) {
            throw fail("dkim.headers", "'\(name.prefix(80))' is not a header field name")
        }
    }
}
