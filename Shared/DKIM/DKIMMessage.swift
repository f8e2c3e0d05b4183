/// A message as DKIM sees it: the header fields in order and the body, from octets with CRLF
/// or bare LF line ends (a lone LF is read as CRLF, as the message would travel over SMTP).
///
/// Each field keeps its octets as on the wire (folds included) with CRLF line ends, so that
/// simple canonicalisation sees what a receiver will see. A line in the header that is neither
/// a field (`name:`) nor a continuation is kept as a field with an empty name, which no h= tag
/// can select.
public struct DKIMMessage: Sendable {
    public struct Field: Sendable, Equatable {
        /// The field name as written (case kept).
        public var name: String
        /// The whole field, name to final CRLF, with CRLF line ends.
        public var raw: [UInt8]
        /// The field name in lower case, for matching h= entries.
        public var lowercasedName: String { name.lowercased() }
        /// The octets after the colon up to (not including) the final CRLF.
        public var value: ArraySlice<UInt8> {
            let colon = raw.firstIndex(of: UInt8(ascii: ":")) ?? raw.count - 2
            return raw[(colon + 1)..<max(colon + 1, raw.count - 2)]
        }
    }

    /// The most header fields read; past it the rest of the header is left out of every
    /// signature (the message is then signed or verified on its first fields only).
    public static let maxFields = 1000

    public private(set) var fields: [Field] = []
    /// The octets after the blank line (line ends as given: the body canonicalisers read both).
    public let body: ArraySlice<UInt8>

    public init(_ octets: [UInt8]) {
        var fields: [Field] = []
        var i = 0
        var current: [UInt8] = []
        var name = ""
        var bodyStart = octets.count
        func flush() {
            if !current.isEmpty, fields.count < Self.maxFields { fields.append(Field(name: name, raw: current)) }
            current = []
        }
        while i < octets.count {
            let lf = octets[i...].firstIndex(of: 0x0A)
            let end = lf ?? octets.count
            var contentEnd = end
            if contentEnd > i, octets[contentEnd - 1] == 0x0D { contentEnd -= 1 }
            let line = octets[i..<contentEnd]
            let next = lf.map { $0 + 1 } ?? octets.count
            if line.isEmpty {
                // The blank line: the body follows (none when the message ends here).
                bodyStart = next
                break
            }
            if DKIMText.isWSP(line.first!), !current.isEmpty {
                current += line
                current += [0x0D, 0x0A]
            } else {
                flush()
                let colon = line.firstIndex(of: UInt8(ascii: ":"))
                name = colon.map { String(decoding: DKIMText.trimmed(line[line.startIndex..<$0]), as: UTF8.self) } ?? ""
                current = Array(line) + [0x0D, 0x0A]
            }
            i = next
            if lf == nil { bodyStart = octets.count }
        }
        flush()
        self.fields = fields
        body = octets[min(bodyStart, octets.count)...]
    }

    /// The domain of the From: field's address (lower case), if there is exactly one From:
    /// with one address; nil otherwise (no From:, several, a group, nothing after the `@`).
    public var fromDomain: String? {
        let froms = fields.filter { $0.lowercasedName == "from" }
        guard froms.count == 1 else { return nil }
        var text = String(decoding: froms[0].value.filter { $0 != 0x0D && $0 != 0x0A }, as: UTF8.self)
        if let open = text.lastIndex(of: "<"), let close = text[open...].firstIndex(of: ">") {
            text = String(text[text.index(after: open)..<close])
        } else if let paren = text.firstIndex(of: "(") {
            text = String(text[..<paren])
        }
        guard !text.contains(","), let at = text.lastIndex(of: "@") else { return nil }
        let domain = text[text.index(after: at)...].trimmingWhitespace().lowercased()
        return DKIMText.isDomainName(domain) ? domain : nil
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
