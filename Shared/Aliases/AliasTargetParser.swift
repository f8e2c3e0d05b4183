/// The target list grammar of aliases(5), for an alias's right-hand side (continuation lines
/// joined), a value stored in aliases.db and a line of an :include: file. Works on octets: a
/// combining mark after a quote or comma must not hide it (Swift's Characters would).
///
///     target-list = [target] *( "," [target] )       ; empty elements are skipped
///     target      = *WSP ( special / angle / quoted / addr-or-name ) *WSP
///     special     = program / file / include / error     ; bare: runs to the next top-level ","
///     program     = "|" 1*octet                          ; the command, for sh -c
///     file        = "/" *octet
///     include     = ":include:" *WSP "/" *octet          ; case-insensitive; an absolute path
///     error       = "error:" error-spec                  ; case-insensitive (see parseError)
///     quoted      = DQUOTE *( qtext / "\" octet ) DQUOTE  ; classified by its content:
///                                                        ; "|cmd, with comma", "/my file", "\\root"
///     angle       = [phrase] "<" addr-or-name ">"        ; `Name <user@example.com>`
///     addr-or-name = ( verbatim / address / name ) [comment]
///     verbatim    = "\" name                             ; no further expansion
///     address     = local-part "@" domain                ; local-part may be quoted
///     name        = 1*( octet except CTL / WSP / specials )
///     specials    = "(" / ")" / "<" / ">" / "[" / "]" / ":" / ";" / "@" / "\" / "," / DQUOTE
///
/// A "," inside quotes, (comments) or <angle brackets> separates nothing.
public enum AliasTargetParser {
    /// sendmail's MAXNAME: a longer name is refused.
    public static let maxNameLength = 256

    /// Every target of `text`, in order. Throws the first problem; an empty list is no error
    /// here (the aliases file refuses it, an :include: line may be all comment).
    public static func parseList(_ text: some Collection<UInt8>) throws(AliasTargetError) -> [AliasTarget] {
        let bytes = Array(text)
        if let c = bytes.first(where: AliasBytes.isControl) {
            throw AliasTargetError("control character \(AliasBytes.hex(c))")
        }
        guard String(validating: bytes, as: UTF8.self) != nil else { throw AliasTargetError("not UTF-8") }
        var targets: [AliasTarget] = []
        for element in try split(bytes[...]) {
            if let target = try parse(AliasBytes.trimmed(element)) { targets.append(target) }
        }
        return targets
    }

    public static func parseList(_ text: String) throws(AliasTargetError) -> [AliasTarget] {
        try parseList(text.utf8)
    }

    /// The elements between top-level commas.
    static func split(_ bytes: ArraySlice<UInt8>) throws(AliasTargetError) -> [ArraySlice<UInt8>] {
        var parts: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        var inQuote = false, escaped = false
        var comment = 0, angle = 0
        for i in bytes.indices {
            let b = bytes[i]
            if inQuote {
                if escaped { escaped = false } else if b == AliasBytes.backslash { escaped = true } else if b == AliasBytes.quote { inQuote = false }
                continue
            }
            switch b {
            case AliasBytes.quote where comment == 0: inQuote = true
            case UInt8(ascii: "("): comment += 1
            case UInt8(ascii: ")"):
                guard comment > 0 else { throw AliasTargetError("unbalanced ')'") }
                comment -= 1
            case UInt8(ascii: "<") where comment == 0: angle += 1
            case UInt8(ascii: ">") where comment == 0:
                guard angle > 0 else { throw AliasTargetError("unbalanced '>' (quote a program that redirects: \"|cmd > file\")") }
                angle -= 1
            case AliasBytes.comma where comment == 0 && angle == 0:
                parts.append(bytes[start..<i])
                start = i + 1
            default: break
            }
        }
        if inQuote { throw AliasTargetError("unbalanced '\"'") }
        if comment > 0 { throw AliasTargetError("unbalanced '('") }
        if angle > 0 { throw AliasTargetError("unbalanced '<'") }
        parts.append(bytes[start...])
        return parts
    }

    /// One trimmed element; nil when empty.
    static func parse(_ element: ArraySlice<UInt8>) throws(AliasTargetError) -> AliasTarget? {
        guard let first = element.first else { return nil }
        if first == UInt8(ascii: "|") || first == UInt8(ascii: "/")
            || AliasBytes.hasPrefix(element, caseInsensitive: ":include:") || AliasBytes.hasPrefix(element, caseInsensitive: "error:") {
            return try content(element)
        }
        if first == AliasBytes.quote, let close = closingQuote(element), close == element.endIndex - 1 {
            return try content(unescape(element[(element.startIndex + 1)..<close]))
        }
        let bare = AliasBytes.trimmed(withoutComments(element))
        guard !bare.isEmpty else { return nil } // a (comment) alone
        if let open = firstOutsideQuotes(UInt8(ascii: "<"), in: bare) {
            // [phrase] <inner>: nothing may follow the closing bracket.
            guard bare.last == UInt8(ascii: ">") else { throw AliasTargetError("bad address \(AliasBytes.string(bare).debugDescription)") }
            let inner = AliasBytes.trimmed(bare[(open + 1)..<(bare.endIndex - 1)])
            guard !inner.isEmpty else { throw AliasTargetError("empty <> address") }
            return try parse(inner)
        }
        return try content(bare)
    }

    /// Classifies a target by its first octets (a quoted target by its content).
    static func content(_ text: ArraySlice<UInt8>) throws(AliasTargetError) -> AliasTarget {
        let shown = AliasBytes.string(text).debugDescription
        guard let first = text.first else { throw AliasTargetError("empty target") }
        if first == UInt8(ascii: "|") {
            let command = text.dropFirst()
            guard command.contains(where: { !AliasBytes.isWhitespace($0) }) else { throw AliasTargetError("program without a command") }
            return .program(AliasBytes.string(command))
        }
        if first == UInt8(ascii: "/") { return .file(AliasBytes.string(text)) }
        if AliasBytes.hasPrefix(text, caseInsensitive: ":include:") {
            let path = AliasBytes.trimmed(text.dropFirst(9))
            guard path.first == UInt8(ascii: "/") else { throw AliasTargetError(":include: needs an absolute path, not \(shown)") }
            return .include(AliasBytes.string(path))
        }
        if AliasBytes.hasPrefix(text, caseInsensitive: "error:") { return try parseError(text.dropFirst(6)) }
        if first == AliasBytes.backslash {
            let name = text.dropFirst()
            if let problem = AliasBytes.nameProblem(name) { throw AliasTargetError("bad target \(shown): \(problem)") }
            return .verbatimLocal(AliasBytes.string(name))
        }
        if text.contains(AliasBytes.at) { return try address(text) }
        if let problem = AliasBytes.nameProblem(text) { throw AliasTargetError("bad target \(shown): \(problem)") }
        return .local(AliasBytes.string(text))
    }

    /// `local-part@domain`, the local part bare or quoted; no source routes (`@a:u@b`).
    static func address(_ text: ArraySlice<UInt8>) throws(AliasTargetError) -> AliasTarget {
        let shown = AliasBytes.string(text).debugDescription
        guard let at = text.lastIndex(of: AliasBytes.at) else { throw AliasTargetError("bad address \(shown)") }
        let local = text[..<at], domain = text[(at + 1)...]
        let localOK = (local.first == AliasBytes.quote && closingQuote(local) == local.endIndex - 1)
            || AliasBytes.nameProblem(local) == nil
        let domainOK = !domain.isEmpty && !domain.contains { AliasBytes.isWhitespace($0) || ($0 != UInt8(ascii: "[") && $0 != UInt8(ascii: "]")
                && $0 != UInt8(ascii: ":") && AliasBytes.isSpecial($0)) }
        guard !local.isEmpty, localOK, domainOK else { throw AliasTargetError("bad address \(shown)") }
        return .address(AliasBytes.string(text))
    }

    /// The index of the quote that closes the one `text` starts with.
    static func closingQuote(_ text: ArraySlice<UInt8>) -> Int? {
        var escaped = false
        for i in text.indices.dropFirst() {
            if escaped { escaped = false } else if text[i] == AliasBytes.backslash { escaped = true } else if text[i] == AliasBytes.quote { return i }
        }
        return nil
    }

    static func unescape(_ text: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var escaped = false
        for b in text {
            if !escaped, b == AliasBytes.backslash { escaped = true; continue }
            escaped = false
            out.append(b)
        }
        return out[...]
    }

    static func firstOutsideQuotes(_ target: UInt8, in text: ArraySlice<UInt8>) -> Int? {
        var inQuote = false, escaped = false
        for i in text.indices {
            let b = text[i]
            if inQuote {
                if escaped { escaped = false } else if b == AliasBytes.backslash { escaped = true } else if b == AliasBytes.quote { inQuote = false }
            } else if b == AliasBytes.quote {
                inQuote = true
            } else if b == target {
                return i
            }
        }
        return nil
    }

    /// `text` without its (comments), nested ones included; quotes protect parentheses.
    static func withoutComments(_ text: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var out: [UInt8] = []
        var depth = 0, inQuote = false, escaped = false
        for b in text {
            if inQuote {
                if escaped { escaped = false } else if b == AliasBytes.backslash { escaped = true } else if b == AliasBytes.quote { inQuote = false }
                out.append(b)
                continue
            }
            if b == UInt8(ascii: "(") { depth += 1; continue }
            if b == UInt8(ascii: ")"), depth > 0 { depth -= 1; continue }
            if depth > 0 { continue }
            if b == AliasBytes.quote { inQuote = true }
            out.append(b)
        }
        return out[...]
    }
}
