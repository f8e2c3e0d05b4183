/// The Authentication-Results: header field (RFC 8601) smtp-in prepends: our authserv-id, then
/// one resinfo per method. Every value from outside is made safe first: no control character,
/// quoted when it is not a plain token; comments keep printable ASCII only.
public struct AuthenticationResults: Sendable {
    public var authservID: String
    public var spf: SPFCheck?
    public var dkim: [DKIMOutcome] = []
    /// DKIM was not verified (no verifier wired in): no dkim= resinfo.
    public var dkimChecked = false
    public var dmarc: DMARCResult?

    public init(authservID: String) {
        self.authservID = authservID
    }

    /// The field with its CRLF, folded before each resinfo.
    public var field: String {
        var results: [String] = []
        if let spf {
            let property = spf.identity == .helo ? "smtp.helo=" + Self.value(spf.domain) : "smtp.mailfrom=" + Self.value(spf.sender)
            results.append("spf=\(spf.result.kind.rawValue)\(Self.comment(spf.result.reason)) \(property)")
        }
        if dkimChecked {
            if dkim.isEmpty { results.append("dkim=none") }
            for signature in dkim.prefix(16) {
                results.append("dkim=\(Self.token(signature.result)) header.d=\(Self.value(signature.domain)) header.s=\(Self.value(signature.selector))")
            }
        }
        if let dmarc {
            var text = "dmarc=\(dmarc.kind.rawValue)"
            if let policy = dmarc.policy { text += " (p=\(policy.rawValue))" } else { text += Self.comment(dmarc.reason) }
            if !dmarc.fromDomain.isEmpty { text += " header.from=" + Self.value(dmarc.fromDomain) }
            results.append(text)
        }
        if results.isEmpty { results = ["none"] }
        return "Authentication-Results: \(Self.value(authservID));\r\n\t" + results.joined(separator: ";\r\n\t") + "\r\n"
    }

    static func token(_ text: String) -> String {
        let t = text.filter { $0.isASCII && ($0.isLetter || $0.isNumber) }
        return t.isEmpty ? "none" : String(t.prefix(32))
    }

    /// A value: as it is when it is a token of printable ASCII without specials (RFC 2045), else
    /// a quoted-string; control characters become "?", at most 512 octets.
    public static func value(_ text: String) -> String {
        let specials = Set("()<>,;:\\\"/[]?= \t")
        var plain = true
        var out = ""
        for scalar in text.unicodeScalars.prefix(512) {
            if scalar.value < 0x20 || scalar.value == 0x7f { out += "?"; continue }
            if specials.contains(Character(scalar)) && scalar != "/" && scalar != "=" { plain = false }
            if scalar.value >= 0x80 { plain = false }
            out.unicodeScalars.append(scalar)
        }
        if plain && !out.isEmpty { return out }
        var quoted = "\""
        for c in out {
            if c == "\\" || c == "\"" { quoted.append("\\") }
            quoted.append(c)
        }
        return quoted + "\""
    }

    /// " (reason)" with printable ASCII only, without parentheses or backslashes, at most 200.
    static func comment(_ text: String) -> String {
        let cleaned = String(text.unicodeScalars.prefix(200).map { s -> Character in
            s.value >= 0x20 && s.value < 0x7f && s != "(" && s != ")" && s != "\\" ? Character(s) : "?"
        })
        return cleaned.isEmpty ? "" : " (\(cleaned))"
    }
}
