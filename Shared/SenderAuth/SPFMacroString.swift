/// An SPF macro-string (RFC 7208 7.1): literals and macros such as `%{ir}` or `%{l1r+-}`,
/// parsed once with the record; `SPFMacroExpander` expands it for a check.
///
///     macro-string  = *( macro-expand / macro-literal )
///     macro-expand  = ( "%{" macro-letter transformers *delimiter "}" ) / "%%" / "%_" / "%-"
///     macro-literal = %x21-24 / %x26-7E
///     macro-letter  = "s" / "l" / "o" / "d" / "i" / "p" / "h" / "c" / "r" / "t" / "v"
///     transformers  = *DIGIT [ "r" ]
///     delimiter     = "." / "-" / "+" / "," / "/" / "_" / "="
public struct SPFMacroString: Equatable, Sendable, CustomStringConvertible {
    public enum Part: Equatable, Sendable {
        case literal(String)
        /// `letter` lower-cased; `keep` the rightmost parts to keep (nil: all); `escape` for an
        /// upper-case letter (URL-encoded result).
        case macro(letter: Character, keep: Int?, reverse: Bool, delimiters: String, escape: Bool)
    }

    public var parts: [Part]
    public let description: String

    public struct SyntaxError: Error, Equatable, Sendable {
        public var reason: String
    }

    /// Digits beyond this keep every part anyway (a label count never comes close).
    static let maxKeep = 128

    /// `explanation`: the exp= text, where c, r and t are allowed and blanks are literal.
    public static func parse(_ text: Substring, explanation: Bool = false) throws(SyntaxError) -> SPFMacroString {
        var parts: [Part] = []
        var literal = ""
        var index = text.startIndex
        func flush() {
            if !literal.isEmpty { parts.append(.literal(literal)); literal = "" }
        }
        while index < text.endIndex {
            let c = text[index]
            guard let ascii = c.asciiValue else { throw SyntaxError(reason: "non-ASCII character in \(quoted(text))") }
            if c != "%" {
                guard (0x21...0x7e).contains(ascii) || (explanation && ascii == 0x20) else {
                    throw SyntaxError(reason: "invalid character in \(quoted(text))")
                }
                literal.append(c)
                index = text.index(after: index)
                continue
            }
            let next = text.index(after: index)
            guard next < text.endIndex else { throw SyntaxError(reason: "lone % in \(quoted(text))") }
            switch text[next] {
            case "%": literal.append("%"); index = text.index(after: next); continue
            case "_": literal.append(" "); index = text.index(after: next); continue
            case "-": literal.append("%20"); index = text.index(after: next); continue
            case "{": break
            default: throw SyntaxError(reason: "invalid macro in \(quoted(text))")
            }
            guard let close = text[next...].firstIndex(of: "}") else { throw SyntaxError(reason: "unterminated macro in \(quoted(text))") }
            flush()
            parts.append(try macro(text[text.index(after: next)..<close], explanation: explanation, in: text))
            index = text.index(after: close)
        }
        flush()
        return SPFMacroString(parts: parts, description: String(text))
    }

    static func macro(_ body: Substring, explanation: Bool, in text: Substring) throws(SyntaxError) -> Part {
        guard let letter = body.first, letter.isASCII, letter.isLetter else { throw SyntaxError(reason: "invalid macro in \(quoted(text))") }
        let lower = Character(letter.lowercased())
        let letters: Set<Character> = explanation ? ["s", "l", "o", "d", "i", "p", "h", "c", "r", "t", "v"] : ["s", "l", "o", "d", "i", "p", "h", "v"]
        guard letters.contains(lower) else { throw SyntaxError(reason: "macro letter \(letter) not allowed in \(quoted(text))") }
        var rest = body.dropFirst()
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        rest = rest.dropFirst(digits.count)
        var keep: Int?
        if !digits.isEmpty {
            let value = digits.count > 4 ? maxKeep + 1 : Int(digits)!
            guard value > 0 else { throw SyntaxError(reason: "zero parts in macro of \(quoted(text))") }
            keep = min(value, maxKeep)
        }
        var reverse = false
        if rest.first == "r" || rest.first == "R" { reverse = true; rest = rest.dropFirst() }
        guard rest.allSatisfy({ ".-+,/_=".contains($0) }) else { throw SyntaxError(reason: "invalid delimiter in \(quoted(text))") }
        return .macro(letter: lower, keep: keep, reverse: reverse, delimiters: String(rest), escape: letter.isUppercase)
    }

    /// The text as written, cut for reasons and logs.
    static func quoted(_ text: Substring) -> String {
        "\"" + text.prefix(80).map { $0.isASCII && ($0.asciiValue! >= 0x20 && $0.asciiValue! < 0x7f) ? String($0) : "?" }.joined() + "\""
    }

    /// Whether the text ends as a domain-spec must (RFC 7208 7.1): a macro, or "." toplabel
    /// with an optional final dot, where toplabel is not all digits and does not start or end
    /// with a hyphen.
    public var hasDomainEnd: Bool {
        guard let last = parts.last else { return false }
        guard case var .literal(tail) = last else { return true }
        if tail.hasSuffix(".") { tail.removeLast() }
        guard let dot = tail.lastIndex(of: ".") else { return false }
        let top = tail[tail.index(after: dot)...]
        guard !top.isEmpty, top.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else { return false }
        return top.contains { $0.isLetter } && top.first != "-" && top.last != "-"
    }

    public var hasMacros: Bool {
        parts.contains { if case .macro = $0 { true } else { false } }
    }
}
