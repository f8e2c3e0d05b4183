/// A program's command line as an alias wrote it (without the leading `|`), split into words
/// with no shell at all. Quotes are honoured as a shell would: `'...'` takes everything
/// literally, `"..."` too but for `\"` and `\\`, and a backslash outside quotes takes the next
/// character. What only a shell gives meaning to is refused outright, anywhere in the line, as
/// smrsh refused it: `; & | < > ` $ ( )` and every control character (tab and newline included).
///
///     command = word *( 1*SP word )
///     word    = 1*( plain / "'" *sq-char "'" / DQUOTE *dq-char DQUOTE / "\" char )
public struct ProgramCommand: Sendable, Equatable {
    public var words: [String]

    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        case empty
        case metacharacter(Character)
        case controlCharacter(UInt32)
        case unbalancedQuote

        public var description: String {
            switch self {
            case .empty: return "empty command"
            case let .metacharacter(c): return "cannot use \"\(c)\" in a command (programs run without a shell)"
            case let .controlCharacter(value):
                return "cannot use control character \\x\(value < 0x10 ? "0" : "")\(String(value, radix: 16, uppercase: true)) in a command"
            case .unbalancedQuote: return "unbalanced quote in command"
            }
        }
    }

    /// Characters a shell would act on; without one there is no reason for them. Compared as
    /// Unicode scalars, as a shell compares octets: a combining mark after `;` or `'` makes one
    /// Swift `Character` of the two, which must not hide the `;` or the quote.
    public static let metacharacters: Set<Unicode.Scalar> = [";", "&", "|", "<", ">", "`", "$", "(", ")"]

    public init(words: [String]) { self.words = words }

    public static func parse(_ line: String) throws(Refusal) -> ProgramCommand {
        let scalars = line.unicodeScalars
        for scalar in scalars where LocalJob.isControl(scalar) { throw .controlCharacter(scalar.value) }
        if let bad = scalars.first(where: metacharacters.contains) { throw .metacharacter(Character(bad)) }
        var words: [String] = []
        var word = String.UnicodeScalarView()
        var inWord = false
        var quote: Unicode.Scalar?
        var iterator = scalars.makeIterator()
        while let c = iterator.next() {
            switch (quote, c) {
            case ("'", "'"), ("\"", "\""):
                quote = nil
            case ("'", _):
                word.append(c)
            case ("\"", "\\"):
                guard let next = iterator.next() else { throw .unbalancedQuote }
                if next != "\"" && next != "\\" { word.append("\\") }
                word.append(next)
            case ("\"", _):
                word.append(c)
            case (nil, " "):
                if inWord { words.append(String(word)) }
                word = String.UnicodeScalarView()
                inWord = false
                continue
            case (nil, "'"), (nil, "\""):
                quote = c
            case (nil, "\\"):
                guard let next = iterator.next() else { throw .unbalancedQuote }
                word.append(next)
            default:
                word.append(c)
            }
            inWord = true
        }
        if quote != nil { throw .unbalancedQuote }
        if inWord { words.append(String(word)) }
        guard let first = words.first, !first.isEmpty else { throw .empty }
        return ProgramCommand(words: words)
    }

    /// What follows the first word's last `/`: what smrsh looks for in its directory (empty for
    /// a word that ends in `/`, which nothing is found for).
    public var programName: String {
        String(words[0].split(separator: "/", omittingEmptySubsequences: false).last ?? "")
    }
}
