/// A DMARC policy record (RFC 7489 6.3, 6.4): `v=DMARC1; p=reject; sp=...; adkim=s; aspf=r;
/// pct=50; rua=...`. Reports are not sent, so rua, ruf, fo, rf and ri are read past.
///
///     dmarc-record = dmarc-version dmarc-sep [dmarc-request] *(dmarc-sep dmarc-tag) [dmarc-sep] *WSP
///     dmarc-version = "v" *WSP "=" *WSP %x44 %x4d %x41 %x52 %x43 %x31
///     dmarc-sep     = *WSP %x3b *WSP
public struct DMARCRecord: Equatable, Sendable {
    public enum Policy: String, Sendable {
        case none, quarantine, reject
    }

    public enum Alignment: String, Sendable {
        case relaxed = "r", strict = "s"
    }

    public var policy: Policy
    /// sp=: for subdomains of the organizational domain; nil when absent (p applies).
    public var subdomainPolicy: Policy?
    public var dkimAlignment = Alignment.relaxed
    public var spfAlignment = Alignment.relaxed
    public var percent = 100

    public struct SyntaxError: Error, Equatable, Sendable {
        public var reason: String
    }

    public static let maxLength = 4096
    public static let maxTags = 64

    public init(policy: Policy, subdomainPolicy: Policy? = nil) {
        self.policy = policy
        self.subdomainPolicy = subdomainPolicy
    }

    /// Whether a TXT record claims to be DMARC (it starts with a v=DMARC1 tag; 6.6.3).
    public static func isDMARC(_ text: String) -> Bool {
        let first = text.prefix(64).split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard let version = tag(first) else { return false }
        return version.name == "v" && version.value == "DMARC1"
    }

    static func tag(_ text: Substring) -> (name: String, value: Substring)? {
        guard let equals = text.firstIndex(of: "=") else { return nil }
        let name = text[..<equals].trimmingBlanks
        guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else { return nil }
        return (name.lowercased(), text[text.index(after: equals)...].trimmingBlanks)
    }

    /// A record whose v= is right; tags with bad values keep their defaults (6.3), a missing or
    /// bad p= is p=none when rua= is given (6.6.3), else the record is refused.
    public static func parse(_ text: String) throws(SyntaxError) -> DMARCRecord {
        guard text.utf8.count <= maxLength else { throw SyntaxError(reason: "record longer than \(maxLength) octets") }
        guard isDMARC(text) else { throw SyntaxError(reason: "not a DMARC1 record") }
        let parts = text.split(separator: ";", omittingEmptySubsequences: false).dropFirst()
        guard parts.count <= maxTags else { throw SyntaxError(reason: "more than \(maxTags) tags") }
        var policy: Policy?
        var record = DMARCRecord(policy: .none)
        var hasReports = false
        for part in parts where !part.trimmingBlanks.isEmpty {
            guard let (name, value) = tag(part) else { continue }
            switch name {
            case "p": policy = Policy(rawValue: value.lowercased())
            case "sp": record.subdomainPolicy = Policy(rawValue: value.lowercased())
            case "adkim": record.dkimAlignment = Alignment(rawValue: value.lowercased()) ?? .relaxed
            case "aspf": record.spfAlignment = Alignment(rawValue: value.lowercased()) ?? .relaxed
            case "pct":
                if value.count <= 3, let n = Int(value), (0...100).contains(n) { record.percent = n }
            case "rua": hasReports = !value.isEmpty
            default: break
            }
        }
        if let policy {
            record.policy = policy
        } else if !hasReports {
            throw SyntaxError(reason: "no valid p= tag")
        }
        return record
    }
}

extension Substring {
    var trimmingBlanks: Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return s
    }
}
