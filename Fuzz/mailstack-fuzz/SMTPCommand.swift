import SMTP

/// The SMTP command grammar: `SMTPCommandLine` (verb, argument, the mode switches) and
/// `SMTPPath` (MAIL FROM:/RCPT TO: paths and parameters) on any line a decoder can hand on.
///
/// Properties: the verb is upper case and holds no space, the argument starts with no space and
/// the verb plus argument are the line; only a line whose verb is DATA or STARTTLS in ASCII
/// letters ends a pipelined group; a parsed path holds no control character, no `<` or `>`
/// octet; parameter keywords are upper case, not empty, hold no space or `=`; what the MAIL and
/// RCPT parameter grammar accepts carries no control character (ENVID printable ASCII, ORCPT
/// no control), stays within its limits, and a refusal is a 501 or 555.
func fuzzSMTPCommand(_ bytes: [UInt8]) {
    let line = String(decoding: bytes.filter { $0 != 0x0D && $0 != 0x0A }, as: UTF8.self)
    let command = SMTPCommandLine(line)
    check(!command.verb.contains(" "), "verb with a space: \(command.verb.debugDescription)")
    check(command.verb == command.verb.uppercased(), "verb not upper case: \(command.verb.debugDescription)")
    check(command.argument.first != " ", "argument starts with a space")
    check(line.uppercased().hasPrefix(command.verb), "verb is not the line's first word")
    if command.endsPipelinedGroup {
        let word = line.utf8.prefix { $0 != 0x20 }.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }
        check(word == Array("DATA".utf8) || word == Array("STARTTLS".utf8),
              "\(line.debugDescription) switches the decoder's mode but is not DATA or STARTTLS")
    }
    for prefix in ["FROM", "TO"] {
        guard let path = try? SMTPPath.parse(command.argument, prefix: prefix) else { continue }
        check(!path.address.containsControlCharacter, "control character in the address \(path.address.debugDescription)")
        check(!path.address.utf8.contains(UInt8(ascii: "<")) && !path.address.utf8.contains(UInt8(ascii: ">")),
              "angle bracket in the address \(path.address.debugDescription)")
        for (keyword, value) in path.parameters {
            check(!keyword.isEmpty || value == nil, "parameter with a value and no keyword")
            check(keyword == keyword.uppercased(), "keyword not upper case")
            check(!keyword.contains(" ") && !keyword.contains("="), "keyword with a space or =: \(keyword.debugDescription)")
            check(!keyword.containsControlCharacter && !(value ?? "").containsControlCharacter, "control character in a parameter")
        }
        for esmtp in [true, false] {
            do {
                if prefix == "FROM" {
                    let p = try MailParameters.parse(path.parameters, esmtp: esmtp)
                    check(p.envid.utf8.count <= MailParameters.maxEnvid && p.envid.utf8.allSatisfy { (0x20...0x7E).contains($0) },
                          "ENVID accepted: \(p.envid.debugDescription)")
                } else {
                    let p = try RcptParameters.parse(path.parameters, esmtp: esmtp)
                    if let orcpt = p.orcpt { check(!orcpt.containsControlCharacter, "ORCPT accepted with a control character") }
                    if let notify = p.notify {
                        check(notify == .never || !notify.contains(.never), "NOTIFY with NEVER and more")
                        check(notify.esmtpValue.flatMap { DSNNotify(parsing: $0) } == notify, "NOTIFY does not round trip")
                    }
                }
                check(esmtp || path.parameters.isEmpty, "parameters accepted after HELO")
            } catch {
                check([501, 555].contains(error.reply.code) && error.reply.enhanced == "5.5.4", "parameter refused with \(error.reply)")
            }
        }
    }
}

/// RFC 3461 xtext (ENVID=, ORCPT=). Properties: any text encodes to octets "!" through "~"
/// other than "=", and decodes back to itself; whatever decodes re-encodes to xtext that
/// decodes to the same text.
func fuzzXText(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    let encoded = XText.encode(text)
    check(encoded.utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E && $0 != UInt8(ascii: "=") }, "encoded xtext holds \(encoded.debugDescription)")
    check(XText.decode(encoded) == text, "xtext round trip: \(text.debugDescription) -> \(encoded) -> \(String(describing: XText.decode(encoded)))")
    if let decoded = XText.decode(text) {
        check(XText.decode(XText.encode(decoded)) == decoded, "xtext round trip of a decoded value")
    }
}

/// MaxHopCount's trace field counter on any message octets. Properties: the count does not
/// depend on how the octets are split; it is at most the number of lines; it matches a plain
/// count of Received:/Via:/Mail-From: lines in the header (up to the first CRLF-only line).
func fuzzHopCounter(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let sizes = input.field()
    let message = input.rest()
    var whole = HopCounter()
    whole.feed(message)
    var split = HopCounter()
    for piece in chunks(message, sizes: sizes) { split.feed(piece) }
    check(whole.hops == split.hops && whole.headerDone == split.headerDone, "hop count depends on the split: \(whole.hops) vs \(split.hops)")
    var expected = 0
    var lineStart = true
    var lines = message.split(separator: 0x0A, omittingEmptySubsequences: false)[...]
    if message.last == 0x0A { lines = lines.dropLast() }
    for line in lines {
        defer { lineStart = true }
        guard lineStart, let first = line.first else { continue }
        if first == 0x0D { break }
        if first == 0x20 || first == 0x09 { continue }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon - line.startIndex <= 10 else { continue }
        let name = String(decoding: line[..<colon].map { $0 | 0x20 }, as: UTF8.self)
        if ["received", "via", "mail-from"].contains(name) { expected += 1 }
    }
    check(whole.hops == expected, "hop count \(whole.hops), expected \(expected)")
}
