/// POP3 commands (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH).
///
///     command = keyword *(SP argument) CRLF    ; keyword case-insensitive
///     msg     = 1*DIGIT                       ; a message number, 1-based
public enum POP3Command: Equatable, Sendable {
    case user(String)
    case pass(String)
    case apop(user: String, digest: String)
    case auth(mechanism: String, initialResponse: String?)
    case capa, stat, noop, rset, quit, stls
    case list(Int?)
    case uidl(Int?)
    case retr(Int)
    case dele(Int)
    case top(Int, lines: Int)

    /// Longest command line, CRLF included (RFC 2449 section 4).
    public static let maxLine = 255

    public enum ParseError: Error, Equatable {
        case unknownCommand(String)
        case badArguments(String)
    }

    public static func parse(_ line: String) throws -> POP3Command {
        let keyword = String(line.prefix { $0 != " " }).uppercased()
        // PASS takes the rest of the line verbatim: passwords may contain spaces.
        let rest = line.count > keyword.count ? String(line.dropFirst(keyword.count + 1)) : ""
        let args = rest.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        func number(_ text: String) throws -> Int {
            guard text.count <= 9, text.allSatisfy(\.isASCII), text.allSatisfy(\.isNumber), let n = Int(text), n > 0 else {
                throw ParseError.badArguments("\(keyword): '\(text.prefix(20))' is not a message number")
            }
            return n
        }
        func arity(_ allowed: ClosedRange<Int>) throws {
            guard allowed.contains(args.count) else { throw ParseError.badArguments("\(keyword): wrong number of arguments") }
        }
        switch keyword {
        case "USER": try arity(1...1); return .user(args[0])
        case "PASS":
            guard !rest.isEmpty else { throw ParseError.badArguments("PASS: a password is required") }
            return .pass(rest)
        case "APOP": try arity(2...2); return .apop(user: args[0], digest: args[1].lowercased())
        case "AUTH": try arity(1...2); return .auth(mechanism: args[0].uppercased(), initialResponse: args.count == 2 ? args[1] : nil)
        case "CAPA": try arity(0...0); return .capa
        case "STAT": try arity(0...0); return .stat
        case "NOOP": try arity(0...0); return .noop
        case "RSET": try arity(0...0); return .rset
        case "QUIT": try arity(0...0); return .quit
        case "STLS": try arity(0...0); return .stls
        case "LIST": try arity(0...1); return .list(try args.first.map(number))
        case "UIDL": try arity(0...1); return .uidl(try args.first.map(number))
        case "RETR": try arity(1...1); return .retr(try number(args[0]))
        case "DELE": try arity(1...1); return .dele(try number(args[0]))
        case "TOP":
            try arity(2...2)
            guard args[1].count <= 9, let lines = Int(args[1]), lines >= 0, args[1].allSatisfy(\.isNumber) else {
                throw ParseError.badArguments("TOP: '\(args[1].prefix(20))' is not a line count")
            }
            return .top(try number(args[0]), lines: lines)
        default:
            throw ParseError.unknownCommand(String(keyword.prefix(20)))
        }
    }
}
