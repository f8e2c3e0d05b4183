/// The RFC5322.From domain DMARC is about (RFC 7489 3.1, 6.6.1), from a message's From: fields.
///
/// Exactly one From: field whose mailboxes all have one domain gives that domain. No From:, or
/// one that does not parse, is `missing`/`unparsable` (DMARC permerror; the message is accepted);
/// several From: fields (RFC 5322 3.6 allows one) or mailboxes of different domains are
/// `multipleFields`/`multipleDomains`: DMARC permerror, and refused under `policy.dmarc: enforce`,
/// since choosing one of the domains would let a forger pick the one without a policy.
public enum FromDomain: Equatable, Sendable {
    case domain(String)
    case missing
    case unparsable
    case multipleFields
    case multipleDomains

    /// Mailboxes read from one From: field at most.
    static let maxMailboxes = 100

    public init(fields: [String]) {
        guard let field = fields.first else { self = .missing; return }
        guard fields.count == 1 else { self = .multipleFields; return }
        let domains = Set(Self.mailboxes(field).compactMap(Self.domain(of:)))
        if domains.isEmpty { self = .unparsable } else if domains.count > 1 { self = .multipleDomains } else { self = .domain(domains.first!) }
    }

    public var problem: String {
        switch self {
        case .domain: ""
        case .missing: "no From: field"
        case .unparsable: "no domain in the From: field"
        case .multipleFields: "more than one From: field"
        case .multipleDomains: "From: mailboxes of more than one domain"
        }
    }

    /// Whether enforcement refuses the message (a forger could choose which domain counts).
    public var isAmbiguous: Bool { self == .multipleFields || self == .multipleDomains }

    /// The mailboxes of a From: value with comments removed, split at commas outside quotes
    /// and angle brackets; each the addr-spec inside <> when there is one.
    static func mailboxes(_ value: String) -> [String] {
        var mailboxes: [String] = []
        var current = "", angle = ""
        var depth = 0, quoted = false, escaped = false, inAngle = false, hadAngle = false
        for c in value.prefix(16384) {
            if escaped { escaped = false; if !inAngle { current.append(c) } else { angle.append(c) }; continue }
            if c == "\\" && (quoted || depth > 0) { escaped = true; continue }
            if depth > 0 {
                if c == "(" { depth += 1 } else if c == ")" { depth -= 1 }
                continue
            }
            if quoted {
                if c == "\"" { quoted = false }
                if inAngle { angle.append(c) } else { current.append(c) }
                continue
            }
            switch c {
            case "(": depth = 1
            case "\"": quoted = true; if inAngle { angle.append(c) } else { current.append(c) }
            case "<": inAngle = true; hadAngle = true; angle = ""
            case ">": inAngle = false
            case "," where !inAngle, ";" where !inAngle, ":" where !inAngle && !current.contains("@"):
                // A group's display name ends at ":", its list at ";".
                if c != ":" { mailboxes.append(hadAngle ? angle : current) }
                current = ""; angle = ""; hadAngle = false
                if mailboxes.count >= maxMailboxes { return mailboxes }
            default:
                if inAngle { angle.append(c) } else { current.append(c) }
            }
        }
        mailboxes.append(hadAngle ? angle : current)
        return mailboxes
    }

    static func domain(of mailbox: String) -> String? {
        let address = mailbox.filter { $0 != " " && $0 != "\t" && $0 != "\r" && $0 != "\n" }
        guard let at = address.lastIndex(of: "@") else { return nil }
        var domain = address[address.index(after: at)...].lowercased()
        if domain.hasSuffix(".") { domain.removeLast() }
        guard !domain.hasPrefix("["), DomainName.isValid(domain, multiLabel: true) else { return nil }
        return domain
    }
}
