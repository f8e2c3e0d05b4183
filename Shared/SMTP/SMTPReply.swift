/// An SMTP reply: code, RFC 3463 enhanced code, the text the client sees, and the reason for
/// the log (which the client never sees); rendered with CRLF, multi-line when the text has
/// several lines. Every service speaks it: smtp-in's replies, relay-policy's decisions, the
/// queue's and smtpfeed-out's delivery results (`DeliveryResult`).
public struct SMTPReply: Hashable, Sendable, CustomStringConvertible {
    public var code: Int
    public var enhanced: String
    public var lines: [String]
    /// Why, for the log only: "access 10.0.0.1 REJECT", "virtusertable @domain1.com".
    public var reason: String

    public init(_ code: Int, _ enhanced: String, _ text: String, reason: String = "") {
        self.code = code
        self.enhanced = enhanced
        lines = [text]
        self.reason = reason
    }

    public init(_ code: Int, _ enhanced: String, lines: [String], reason: String = "") {
        self.code = code
        self.enhanced = enhanced
        self.lines = lines.isEmpty ? [""] : lines
        self.reason = reason
    }

    /// A reply whose enhanced code may be missing (a peer that does not send one, an access
    /// entry that names none): it gets `class.detail`, the class being the code's first digit.
    public init(code: Int, enhanced: String?, _ text: String, defaultDetail: String = "0.0", reason: String = "") {
        let given = enhanced.flatMap { $0.isEmpty ? nil : $0 }
        self.init(code, given ?? Self.defaultEnhanced(for: code, detail: defaultDetail), text, reason: reason)
    }

    /// `2.0.0`, `4.0.0`, `5.0.0` for a code without an enhanced code (RFC 3463 3.1: "X.0.0"
    /// when nothing more is known); `detail` "7.1" gives sendmail's access-map `5.7.1`.
    public static func defaultEnhanced(for code: Int, detail: String = "0.0") -> String {
        "\(min(max(code / 100, 2), 5)).\(detail)"
    }

    /// The text as one line (multi-line replies joined by a space), as DSNs and logs show it.
    public var text: String { lines.joined(separator: " ") }

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
    public var isPermanent: Bool { code >= 500 }
    public var isTemporary: Bool { (400..<500).contains(code) }
}
