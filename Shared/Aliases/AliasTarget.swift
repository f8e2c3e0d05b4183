/// One right-hand-side element of an alias (aliases(5)), as sendmail classifies it. The same
/// targets come from the aliases file, from a value stored in aliases.db and from the lines of an
/// `:include:` file (`AliasTargetParser` reads all three).
public enum AliasTarget: Hashable, Sendable, CustomStringConvertible {
    /// A bare local name: looked up in the aliases again, else a mailbox.
    case local(String)
    /// `\name`: the local mailbox itself, never expanded again.
    case verbatimLocal(String)
    /// A mailbox with an `@` (`user@example.com`, `Name <user@example.com>` is stored as
    /// `user@example.com`).
    case address(String)
    /// `:include:/path`: the targets listed in that file.
    case include(String)
    /// `|command` (usually in quotes, `"|/usr/bin/prog arg, with comma"`): the command without
    /// the bar, for `sh -c`.
    case program(String)
    /// `/path`: append the message to that file.
    case file(String)
    /// `error:D.S.N:text`, `error:NNN text`, `error:nouser text`: refuse with this reply.
    case error(code: Int, enhanced: String, text: String)

    /// The target written back in the file's syntax (quoted where the grammar needs it), so
    /// that `AliasTargetParser.parseList` reads it back as the same target.
    public var description: String {
        switch self {
        case let .local(name): return name
        case let .verbatimLocal(name): return "\\" + name
        case let .address(address): return address
        case let .include(path): return Self.quote(":include:" + path)
        case let .program(command): return Self.quote("|" + command)
        case let .file(path): return Self.quote(path)
        case let .error(code, enhanced, text): return Self.quote("error:\(enhanced):\(code) \(text)")
        }
    }

    /// `text` in double quotes, with `"` and `\` escaped; unchanged when it needs no quotes.
    static func quote(_ text: String) -> String {
        let needsQuotes = text.utf8.contains { AliasBytes.isSpecial($0) || AliasBytes.isWhitespace($0) }
        guard needsQuotes else { return text }
        var out = "\""
        for scalar in text.unicodeScalars {
            if scalar == "\"" || scalar == "\\" { out.unicodeScalars.append("\\") }
            out.unicodeScalars.append(scalar)
        }
        return out + "\""
    }
}
