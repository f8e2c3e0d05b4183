/// Addresses a local user gives (recipients, -f), checked before they reach the envelope, a
/// header or a log line.
public enum LocalAddress {
    /// The longest address taken (RFC 5321: 64 octets of local part, 255 of domain).
    public static let maxLength = 320

    /// Not empty, at most `maxLength` octets, no control characters; outside quoted strings no
    /// blanks and none of `<>(),;`; quotes balanced.
    public static func isValid(_ address: String) -> Bool {
        guard !address.isEmpty, address.utf8.count <= maxLength else { return false }
        var quoted = false
        var escaped = false
        for byte in address.utf8 {
            if byte < 0x20 || byte == 0x7F { return false }
            if escaped { escaped = false; continue }
            if quoted {
                if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { quoted = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): quoted = true
            case UInt8(ascii: " "), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "("), UInt8(ascii: ")"),
                 UInt8(ascii: ","), UInt8(ascii: ";"): return false
            default: break
            }
        }
        return !quoted && !escaped
    }

    /// Whether an `@` outside a quoted string separates a domain.
    public static func hasDomain(_ address: String) -> Bool { domainStart(address) != nil }

    /// `address` with `@domain` added when it has none (sendmail qualifies with $j).
    public static func qualified(_ address: String, domain: String) -> String {
        hasDomain(address) ? address : address + "@" + domain
    }

    /// `user`, `user@<one of names>` (case-insensitive domain), as sendmail's check that the
    /// sender is the local user themself.
    public static func isOwn(_ address: String, user: String, names: Set<String>) -> Bool {
        guard let at = domainStart(address) else { return address == user }
        return address[..<at] == user && names.contains(address[address.index(after: at)...].lowercased())
    }

    public static func domainStart(_ address: String) -> String.Index? {
        var quoted = false
        var last: String.Index?
        for index in address.indices {
            switch address[index] {
            case "\"": quoted.toggle()
            case "@" where !quoted: last = index
            default: break
            }
        }
        return last
    }
}
