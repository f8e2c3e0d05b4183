/// A DKIM tag-list (RFC 6376 3.2), the grammar of both the DKIM-Signature field and the key
/// record:
///
///     tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]
///     tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
///     tag-name  =  ALPHA *ALNUMPUNC            ; ALNUMPUNC = ALPHA / DIGIT / "_"
///     tag-value =  [ tval *( 1*(WSP / FWS) tval ) ]
///     tval      =  1*VALCHAR                   ; VALCHAR = %x21-3A / %x3C-7E
///
/// Tag names are case-sensitive; a tag named twice makes the whole list invalid. Values keep
/// their inner whitespace as written (folds included); `value(_:stripped:)` removes it for the
/// tags whose grammar allows FWS anywhere (base64, colon lists).
public struct DKIMTagList: Sendable, Equatable {
    /// The longest tag-list parsed, in octets: a key record (a 4096-bit RSA key is about 740
    /// octets of base64) or a DKIM-Signature field with a long h= list fits many times over.
    public static let maxLength = 16 * 1024
    /// The most tags in one list: RFC 6376 defines 14 for signatures, 6 for keys.
    public static let maxTags = 64

    public enum Error: Swift.Error, Equatable, Sendable, CustomStringConvertible {
        case tooLong
        case tooManyTags
        case badTagName(String)
        case missingEquals(String)
        case badValue(tag: String)
        case duplicate(String)

        public var description: String {
            switch self {
            case .tooLong: "tag-list longer than \(DKIMTagList.maxLength) octets"
            case .tooManyTags: "more than \(DKIMTagList.maxTags) tags"
            case let .badTagName(name): "bad tag name '\(DKIMText.printable(name))'"
            case let .missingEquals(name): "tag '\(DKIMText.printable(name))' has no '='"
            case let .badValue(tag): "bad value of tag '\(DKIMText.printable(tag))'"
            case let .duplicate(name): "tag '\(DKIMText.printable(name))' appears twice"
            }
        }
    }

    /// The tags in order of appearance: name, value (outer whitespace removed).
    public private(set) var tags: [(name: String, value: String)]

    public static func == (a: DKIMTagList, b: DKIMTagList) -> Bool {
        a.tags.map(\.name) == b.tags.map(\.name) && a.tags.map(\.value) == b.tags.map(\.value)
    }

    /// Parses `text` (octets; a field's value after the colon, or a TXT record).
    public init(parsing text: some Collection<UInt8>) throws(Error) {
        guard text.count <= Self.maxLength else { throw .tooLong }
        let octets = Array(text)
        tags = []
        var seen = Set<String>()
        var start = 0
        while start <= octets.count {
            let end = octets[start...].firstIndex(of: UInt8(ascii: ";")) ?? octets.count
            let spec = octets[start..<end]
            start = end + 1
            // An empty last spec is the optional trailing ";" (or an empty list).
            if spec.allSatisfy(DKIMText.isFWS) {
                if end == octets.count { break }
                throw .badTagName("")
            }
            guard let equals = spec.firstIndex(of: UInt8(ascii: "=")) else {
                throw .missingEquals(String(decoding: DKIMText.trimmed(spec), as: UTF8.self))
            }
            let name = String(decoding: DKIMText.trimmed(spec[spec.startIndex..<equals]), as: UTF8.self)
            guard Self.isTagName(name) else { throw .badTagName(name) }
            let value = DKIMText.trimmed(spec[(equals + 1)...])
            guard Self.isTagValue(value) else { throw .badValue(tag: name) }
            guard seen.insert(name).inserted else { throw .duplicate(name) }
            guard tags.count < Self.maxTags else { throw .tooManyTags }
            tags.append((name, String(decoding: value, as: UTF8.self)))
        }
    }

    /// The value of tag `name`, or nil. With `stripped`, every whitespace octet (folds
    /// included) is removed, as the grammar of base64 and colon-separated values allows.
    public func value(_ name: String, stripped: Bool = false) -> String? {
        guard let value = tags.first(where: { $0.name == name })?.value else { return nil }
        return stripped ? String(decoding: value.utf8.filter { !DKIMText.isFWS($0) }, as: UTF8.self) : value
    }

    /// tag-name = ALPHA *ALNUMPUNC
    static func isTagName(_ name: String) -> Bool {
        guard let first = name.utf8.first, DKIMText.isAlpha(first) else { return false }
        return name.utf8.allSatisfy { DKIMText.isAlpha($0) || DKIMText.isDigit($0) || $0 == UInt8(ascii: "_") }
    }

    /// tag-value: VALCHARs separated by runs of whitespace and folds (CR only in CRLF + WSP).
    static func isTagValue(_ value: ArraySlice<UInt8>) -> Bool {
        var i = value.startIndex
        while i < value.endIndex {
            let c = value[i]
            if (0x21...0x3A).contains(c) || (0x3C...0x7E).contains(c) || c == 0x20 || c == 0x09 {
                i += 1
            } else if c == 0x0D, i + 2 < value.endIndex, value[i + 1] == 0x0A, DKIMText.isWSP(value[i + 2]) {
                i += 3
            } else if c == 0x0A, i + 1 < value.endIndex, DKIMText.isWSP(value[i + 1]) {
                i += 2 // a fold with a bare LF (a message read with LF line ends)
            } else {
                return false
            }
        }
        return true
    }
}

/// Octet classes and helpers of the DKIM grammars.
enum DKIMText {
    static func isWSP(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }
    static func isFWS(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A }
    static func isAlpha(_ c: UInt8) -> Bool { (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) }
    static func isDigit(_ c: UInt8) -> Bool { (0x30...0x39).contains(c) }

    static func trimmed(_ s: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var lo = s.startIndex, hi = s.endIndex
        while lo < hi, isFWS(s[lo]) { lo += 1 }
        while hi > lo, isFWS(s[hi - 1]) { hi -= 1 }
        return s[lo..<hi]
    }

    /// `text` safe for a log line or a header comment: printable ASCII kept, everything else
    /// (controls, 8-bit octets, backslash) as \xHH, at most `limit` characters.
    public static func printable(_ text: String, limit: Int = 64) -> String {
        var out = ""
        for c in text.utf8.prefix(limit) {
            if (0x20...0x7E).contains(c) && c != UInt8(ascii: "\\") {
                out.append(Character(Unicode.Scalar(c)))
            } else {
                out += "\\x" + String(c, radix: 16, uppercase: true).leftPadded(2)
            }
        }
        return text.utf8.count > limit ? out + "..." : out
    }

    /// A DNS name fit to be asked for: LDH labels (underscore allowed), 1-63 octets each, at
    /// most 253 in all.
    static func isDomainName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63
                && label.utf8.allSatisfy { isAlpha($0) || isDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
