/// The argument of MAIL FROM: and RCPT TO: (RFC 5321 section 4.1.2): a path in angle brackets
/// and ESMTP parameters. Parsed strictly enough that nothing surprising reaches the policy:
/// control characters and unbalanced brackets are errors; a source route (`<@a,@b:user@c>`) is
/// kept whole so relay-policy can refuse it; quoting is kept as written.
public struct SMTPPath: Equatable, Sendable {
    /// The address without angle brackets; empty for the null path `<>`.
    public var address: String
    /// Parameters in order, keywords upper-cased; a keyword without `=` has a nil value.
    public var parameters: [(keyword: String, value: String?)]

    public static func == (a: SMTPPath, b: SMTPPath) -> Bool {
        a.address == b.address && a.parameters.map(\.keyword) == b.parameters.map(\.keyword)
            && a.parameters.map(\.value) == b.parameters.map(\.value)
    }

    public enum Failure: Error, Equatable, Sendable {
        /// The prefix ("FROM:" or "TO:") is missing.
        case missingPrefix
        case syntax(String)
    }

    /// Parses `FROM:<path> params` (prefix "FROM") or `TO:<path> params` (prefix "TO"). Like
    /// sendmail, spaces after the colon and a path without brackets are tolerated.
    public static func parse(_ argument: Substring, prefix: String) throws -> SMTPPath {
        guard argument.count > prefix.count, argument.prefix(prefix.count).uppercased() == prefix,
              argument.dropFirst(prefix.count).first == ":" else {
            throw Failure.missingPrefix
        }
        var rest = argument.dropFirst(prefix.count + 1).drop { $0 == " " }
        guard rest.allSatisfy({ $0.asciiValue.map { $0 >= 0x20 && $0 != 0x7F } ?? true }) else {
            throw Failure.syntax("control character in the address")
        }
        let address: Substring
        if rest.first == "<" {
            guard let close = closingBracket(rest) else { throw Failure.syntax("unbalanced <>") }
            address = rest[rest.index(after: rest.startIndex)..<close]
            rest = rest[rest.index(after: close)...]
            guard rest.isEmpty || rest.first == " " else { throw Failure.syntax("text after the closing >") }
        } else {
            let end = rest.firstIndex(of: " ") ?? rest.endIndex
            address = rest[..<end]
            rest = rest[end...]
            guard !address.isEmpty, !address.contains("<"), !address.contains(">") else { throw Failure.syntax("bad address") }
        }
        guard !address.contains("<"), !address.contains(">") else { throw Failure.syntax("nested <>") }
        var parameters: [(String, String?)] = []
        for word in rest.split(separator: " ") {
            if let eq = word.firstIndex(of: "=") {
                let keyword = word[..<eq].uppercased()
                guard !keyword.isEmpty else { throw Failure.syntax("parameter without a keyword") }
                parameters.append((keyword, String(word[word.index(after: eq)...])))
            } else {
                parameters.append((word.uppercased(), nil))
            }
        }
        return SMTPPath(address: String(address), parameters: parameters)
    }

    /// The `>` that closes the `<` at the start, skipping quoted strings.
    static func closingBracket(_ text: Substring) -> Substring.Index? {
        var quoted = false
        var escaped = false
        for index in text.indices.dropFirst() {
            let c = text[index]
            if escaped { escaped = false; continue }
            if c == "\\" && quoted { escaped = true; continue }
            if c == "\"" { quoted.toggle(); continue }
            if c == ">" && !quoted { return index }
        }
        return nil
    }
}

/// RFC 3461 xtext: `+XX` for octets outside "!" through "~", "+" and "=".
public enum XText {
    public static func decode(_ text: String) -> String? {
        var out: [UInt8] = []
        var bytes = text.utf8[...]
        while let byte = bytes.first {
            bytes = bytes.dropFirst()
            if byte == UInt8(ascii: "+") {
                guard bytes.count >= 2, let value = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) else { return nil }
                out.append(value)
                bytes = bytes.dropFirst(2)
            } else {
                guard byte >= 0x21 && byte <= 0x7E && byte != UInt8(ascii: "=") else { return nil }
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            if byte >= 0x21 && byte <= 0x7E && byte != UInt8(ascii: "+") && byte != UInt8(ascii: "=") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                out += "+" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }
}
