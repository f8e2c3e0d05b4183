/// Checks on domain names from outside (MAIL FROM, HELO, From:, expanded SPF macros) before
/// they are looked up or written anywhere.
public enum DomainName {
    /// At most 253 octets, labels of 1 to 63 printable ASCII octets or spaces (a DNS label may
    /// hold any octet; an SPF macro can expand to "%{l}" with blanks), never a backslash (the
    /// resolver's escape), a final dot allowed; `multiLabel` also wants two labels or more
    /// (RFC 7208 4.3).
    public static func isValid(_ name: String, multiLabel: Bool) -> Bool {
        var name = Substring(name)
        if name.hasSuffix(".") { name = name.dropLast() }
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        guard name.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\\") }) else { return false }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 63 }) else { return false }
        return !multiLabel || labels.count >= 2
    }

    /// A name fit for a log line or a header comment: printable ASCII, other octets as \xNN,
    /// at most 255 octets.
    public static func printable(_ text: String) -> String {
        var out = ""
        for byte in text.utf8.prefix(255) {
            if byte >= 0x21 && byte < 0x7f && byte != UInt8(ascii: "\\") {
                out.append(Character(Unicode.Scalar(byte)))
            } else {
                out += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return out
    }
}
