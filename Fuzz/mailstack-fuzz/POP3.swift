import NIOCore
import NIOEmbedded
import POP3Service

/// pop3's line decoder with its STLS gate, fed whole and in pieces; after an STLS line the
/// session opens the gate again (TLS refused or in place) before the next piece, as the input
/// says.
///
/// Properties: a line holds no CR or LF and fits `maxLine` with its CRLF; nothing comes out
/// behind an STLS line in the same piece, nor while the gate is closed; the split of the input
/// changes nothing before the first STLS.
func fuzzPOP3Line(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let maxLine = input.bool() ? POP3Command.maxLine : 8 + Int(input.byte() & 0x3F)
    let sizes = input.field()
    let stream = input.rest()
    let whole = decodePOP3Lines([stream], maxLine: maxLine)
    let split = decodePOP3Lines(chunks(stream, sizes: sizes.isEmpty ? [1] : sizes), maxLine: maxLine)
    let beforeSTLS = { (lines: [POP3Line]) in
        Array(lines.prefix { if case let .line(text) = $0 { return (try? POP3Command.parse(text)) != .stls }; return true })
    }
    check(beforeSTLS(whole) == beforeSTLS(split), "the split changes the lines:\n\(whole)\n\(split)")
}

func decodePOP3Lines(_ pieces: [[UInt8]], maxLine: Int) -> [POP3Line] {
    let gate = POP3TLSGate()
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(POP3LineDecoder(maxLine: maxLine, gate: gate)))
    var lines: [POP3Line] = []
    for piece in pieces {
        do { try channel.writeInbound(ByteBuffer(bytes: piece)) } catch { violated("decoder threw \(error)") }
        var stls = false
        while let line = try! channel.readInbound(as: POP3Line.self) {
            check(!stls, "a line behind STLS: \(line)")
            lines.append(line)
            guard case let .line(text) = line else { continue }
            check(!containsCRorLF(text), "POP3 line with CR or LF: \(text.debugDescription)")
            check(text.unicodeScalars.count + 1 <= maxLine, "POP3 line over \(maxLine) octets")
            if (try? POP3Command.parse(text)) == .stls {
                check(gate.isClosed, "STLS left the gate open")
                stls = true
            }
        }
        gate.open() // the session refused STLS or TLS is in place
    }
    _ = try? channel.finish()
    return lines
}

/// POP3 commands (RFC 1939, 2449, 2595, 5034) on any line. Properties: a recognised command's
/// keyword is its ASCII name in any case (so no other text is taken for STLS or PASS); message
/// numbers are 1 to 999999999, TOP's line count 0 to 999999999; USER and APOP names are not
/// empty; PASS is the rest of the line after "PASS ".
func fuzzPOP3Command(_ bytes: [UInt8]) {
    let line = String(decoding: bytes.filter { $0 != 0x0D && $0 != 0x0A }, as: UTF8.self)
    guard let command = try? POP3Command.parse(line) else { return }
    let keyword = line.utf8.prefix { $0 != 0x20 }.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }
    let name = String(describing: command).prefix { $0.isLetter }.uppercased()
    check(keyword == Array(name.utf8), "\(line.debugDescription) was taken for \(name)")
    switch command {
    case let .user(user): check(!user.isEmpty && !user.contains(" "), "USER \(user.debugDescription)")
    case let .pass(password):
        check(String(decoding: line.utf8.dropFirst(5), as: UTF8.self) == password, "PASS \(password.debugDescription) of \(line.debugDescription)")
    case let .apop(user, digest): check(!user.isEmpty && !digest.isEmpty, "APOP arguments")
    case let .auth(mechanism, _): check(!mechanism.isEmpty, "AUTH mechanism")
    case .capa, .stat, .noop, .rset, .quit, .stls: break
    case let .list(n), let .uidl(n): check(n.map { (1...999_999_999).contains($0) } ?? true, "message number \(String(describing: n))")
    case let .retr(n), let .dele(n): check((1...999_999_999).contains(n), "message number \(n)")
    case let .top(n, lines): check((1...999_999_999).contains(n) && (0...999_999_999).contains(lines), "TOP \(n) \(lines)")
    }
}

/// RETR's and TOP's conversion of a stored message (`POP3MessageWriter`), fed in pieces,
/// against a plain reading octet by octet (below).
///
/// Properties: whatever the pieces, the output is the reference's: every line ending CRLF (a
/// bare LF made CRLF, a CR alone left as it is), a line starting with "." given another, TOP's
/// headers, blank line and that many body lines only, and the terminator.
func fuzzPOP3Message(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let top: Int? = input.bool() ? Int(input.byte() & 0x0F) : nil
    let sizes = input.field()
    let stored = input.rest()
    var writer = POP3MessageWriter(bodyLines: top)
    var out = ByteBuffer()
    for piece in chunks(stored, sizes: sizes) where !writer.isDone {
        writer.transform(ByteBuffer(bytes: piece), into: &out)
    }
    writer.finish(into: &out)
    let expected = referencePOP3Message(stored, bodyLines: top)
    check(Array(out.readableBytesView) == expected,
          "\(stored) as \(top.map { "TOP \($0)" } ?? "RETR"): \(Array(out.readableBytesView)), not \(expected)")
}

/// The message as RETR or TOP sends it, read octet by octet.
private func referencePOP3Message(_ stored: [UInt8], bodyLines: Int?) -> [UInt8] {
    var out: [UInt8] = []
    var line: [UInt8] = []
    var inBody = false
    var left = bodyLines
    var lines: [[UInt8]] = []
    for octet in stored {
        if octet == 10 {
            lines.append(line)
            line = []
        } else {
            line.append(octet)
        }
    }
    let last = line.isEmpty ? nil : line
    func emit(_ line: [UInt8], ended: Bool) {
        if line.first == UInt8(ascii: ".") { out.append(UInt8(ascii: ".")) }
        out += line
        if ended {
            if line.last != 13 { out.append(13) }
            out.append(10)
        }
    }
    for line in lines {
        if inBody, let count = left {
            if count == 0 { return out + Array(".\r\n".utf8) }
            left = count - 1
        }
        emit(line, ended: true)
        if !inBody, line.isEmpty || line == [13] { inBody = true }
    }
    if let last {
        if inBody, left == 0 { return out + Array(".\r\n".utf8) }
        emit(last, ended: false)
        out += Array("\r\n".utf8)
    }
    return out + Array(".\r\n".utf8)
}
