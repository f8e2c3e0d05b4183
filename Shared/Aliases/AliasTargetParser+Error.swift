extension AliasTargetParser {
    /// sendmail's error mailer names (sysexits) as they may follow `error:`, with their reply.
    static let namedErrors: [(name: String, code: Int, enhanced: String, text: String)] = [
        ("nouser", 550, "5.1.1", "User unknown"),
        ("nohost", 550, "5.1.2", "Host unknown"),
        ("unavailable", 550, "5.0.0", "Service unavailable"),
        ("tempfail", 450, "4.0.0", "Temporary failure"),
    ]

    /// What follows `error:` in a target (the specification of sendmail's error mailer):
    ///
    ///     error-spec = enhanced ":" [ reply-code SP ] text   ; error:5.1.1:User unknown -> 550 5.1.1
    ///                / reply-code SP text                    ; error:550 text -> 550 5.0.0
    ///                / named [ SP text ]                     ; error:nouser -> 550 5.1.1 User unknown
    ///     enhanced   = class "." 1*3DIGIT "." 1*3DIGIT        ; RFC 3463; class "4" / "5"
    ///     reply-code = class 2DIGIT                           ; of the enhanced code's class
    ///     named      = "nouser" / "nohost" / "unavailable" / "tempfail"   ; case-insensitive
    ///     text       = 1*octet                                ; surrounding blanks trimmed
    ///
    /// Without a reply code, class 5 replies 550 and class 4 replies 450.
    static func parseError(_ spec: ArraySlice<UInt8>) throws(AliasTargetError) -> AliasTarget {
        let rest = AliasBytes.trimmed(spec)
        let shown = "error:" + AliasBytes.string(rest)
        for named in namedErrors where AliasBytes.hasPrefix(rest, caseInsensitive: named.name) {
            let after = rest.dropFirst(named.name.utf8.count)
            guard after.first.map(AliasBytes.isWhitespace) ?? true else { continue }
            let text = AliasBytes.trimmed(after)
            return .error(code: named.code, enhanced: named.enhanced, text: text.isEmpty ? named.text : AliasBytes.string(text))
        }
        var enhanced: String?
        var body = rest
        if let colon = rest.firstIndex(of: AliasBytes.colon), isEnhancedCode(rest[..<colon]) {
            enhanced = AliasBytes.string(rest[..<colon])
            body = AliasBytes.trimmed(rest[(colon + 1)...])
        }
        var code: Int?
        if let (reply, after) = replyCode(body) {
            code = reply
            body = AliasBytes.trimmed(after)
        }
        guard enhanced != nil || code != nil else {
            throw AliasTargetError("bad \(shown.debugDescription): use error:D.S.N:text, error:NNN text or error:nouser text")
        }
        let replyClass = code.map { $0 / 100 } ?? Int(enhanced.map { String($0.prefix(1)) } ?? "") ?? 5
        if let enhanced, let code, enhanced.utf8.first != UInt8(ascii: "0") + UInt8(code / 100) {
            throw AliasTargetError("bad \(shown.debugDescription): reply code \(code) and enhanced code \(enhanced) of different classes")
        }
        guard !body.isEmpty else { throw AliasTargetError("bad \(shown.debugDescription): no text") }
        return .error(code: code ?? (replyClass == 4 ? 450 : 550), enhanced: enhanced ?? "\(replyClass).0.0", text: AliasBytes.string(body))
    }

    /// RFC 3463's class.subject.detail, class 4 or 5 (an error is never a success).
    static func isEnhancedCode(_ text: some Collection<UInt8>) -> Bool {
        let parts = text.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return parts.count == 3 && (parts[0].elementsEqual("4".utf8) || parts[0].elementsEqual("5".utf8))
            && parts.allSatisfy { (1...3).contains($0.count) && $0.allSatisfy(isDigit) }
    }

    /// A 4xx or 5xx reply code at the start of `text`, ended by white space or the end.
    static func replyCode(_ text: ArraySlice<UInt8>) -> (Int, ArraySlice<UInt8>)? {
        let digits = text.prefix(3)
        guard digits.count == 3, digits.allSatisfy(isDigit), digits.first == UInt8(ascii: "4") || digits.first == UInt8(ascii: "5") else {
            return nil
        }
        let after = text.dropFirst(3)
        guard after.first.map(AliasBytes.isWhitespace) ?? true else { return nil }
        return (digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }, after)
    }

    static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
}
