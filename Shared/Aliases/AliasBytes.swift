/// Octet classes shared by the aliases grammar (RFC 5322's specials, sendmail's white space).
enum AliasBytes {
    static let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\"), comma = UInt8(ascii: ",")
    static let colon = UInt8(ascii: ":"), at = UInt8(ascii: "@"), hash = UInt8(ascii: "#")
    static let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), newline = UInt8(ascii: "\n")

    static func isWhitespace(_ byte: UInt8) -> Bool { byte == space || byte == tab }

    /// A control character other than TAB (which is white space here), or DEL.
    static func isControl(_ byte: UInt8) -> Bool { (byte < 0x20 && byte != tab) || byte == 0x7F }

    /// RFC 5322's specials: what a bare name may not hold.
    static func isSpecial(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "["),
             UInt8(ascii: "]"), UInt8(ascii: ":"), UInt8(ascii: ";"), UInt8(ascii: "@"), UInt8(ascii: "\\"),
             UInt8(ascii: ","), UInt8(ascii: "\""):
            return true
        default:
            return false
        }
    }

    static func lower(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }

    /// `name` with ASCII letters folded to lower case (sendmail's makelower), other octets kept.
    static func fold(_ name: String) -> String {
        String(decoding: name.utf8.map(lower), as: UTF8.self)
    }

    static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, isWhitespace(first) { slice = slice.dropFirst() }
        while let last = slice.last, isWhitespace(last) { slice = slice.dropLast() }
        return slice
    }

    static func hasPrefix(_ bytes: ArraySlice<UInt8>, caseInsensitive prefix: String) -> Bool {
        let p = Array(prefix.utf8)
        return bytes.count >= p.count && zip(bytes, p).allSatisfy { lower($0) == $1 }
    }

    static func string(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }

    /// Why `name` cannot be a local name (an alias's name, a `\name`, a bare target), or nil.
    static func nameProblem(_ name: ArraySlice<UInt8>) -> String? {
        if name.isEmpty { return "empty name" }
        if name.count > AliasTargetParser.maxNameLength {
            return "name longer than \(AliasTargetParser.maxNameLength) octets"
        }
        if let c = name.first(where: isControl) { return "control character \(hex(c)) in a name" }
        if name.contains(where: isWhitespace) { return "white space in a name (a missing comma?)" }
        if let s = name.first(where: isSpecial) { return "'\(Character(Unicode.Scalar(s)))' in a name" }
        return nil
    }

    static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return "0x" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0x0F)])
    }
}
