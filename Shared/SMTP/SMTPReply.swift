/// An SMTP reply: code, RFC 3463 enhanced code, text; rendered with CRLF, multi-line when the
/// text has several lines.
public struct SMTPReply: Equatable, Sendable, CustomStringConvertible {
    public var code: Int
    public var enhanced: String
    public var lines: [String]

    public init(_ code: Int, _ enhanced: String, _ text: String) {
        self.code = code
        self.enhanced = enhanced
        lines = [text]
    }

    public init(_ code: Int, _ enhanced: String, lines: [String]) {
        self.code = code
        self.enhanced = enhanced
        self.lines = lines.isEmpty ? [""] : lines
    }

    /// The wire form: `250-first` ... `250 last`, each with the enhanced code when there is one.
    public var wire: String {
        var out = ""
        for (i, line) in lines.enumerated() {
            let separator = i == lines.count - 1 ? " " : "-"
            out += "\(code)\(separator)\(enhanced.isEmpty ? "" : enhanced + " ")\(line)\r\n"
        }
        return out
    }

    public var description: String { "\(code) \(enhanced.isEmpty ? "" : enhanced + " ")\(lines.joined(separator: " / "))" }

    public var isPositive: Bool { code < 400 }
    public var isTemporary: Bool { (400..<500).contains(code) }
}
