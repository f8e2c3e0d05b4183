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

    /// Whether `text` is an RFC 3463 enhanced status code that a reply with `code` may carry:
    ///
    ///     status-code = class "." subject "." detail
    ///     class       = "2" / "4" / "5"          ; the reply code's first digit
    ///     subject     = 1*3digit
    ///     detail      = 1*3digit
    public static func isEnhancedCode(_ text: Substring, for code: Int) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == Substring(String(code / 100)), [2, 4, 5].contains(code / 100) else { return false }
        return parts[1...].allSatisfy { (1...3).contains($0.utf8.count) && $0.utf8.allSatisfy { (0x30...0x39).contains($0) } }
    }

    public var isPositive: Bool { code < 400 }
    public var isTemporary: Bool { (400..<500).contains(code) }
}
