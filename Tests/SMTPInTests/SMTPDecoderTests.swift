import NIOCore
import NIOEmbedded
import SMTP
import SMTPInService
import Testing

/// The input decoder alone, on an EmbeddedChannel: what a client's octets become.
@Suite("smtp-in: input decoding (line ends, dots, limits, smuggling)")
struct SMTPDecoderTests {
    /// Feeds `input` in command mode, switching to data mode after a DATA command as the session
    /// would; returns what came out.
    func decode(_ input: String, chunked: Int? = nil, dataAfterDATA: Bool = true) throws -> [SMTPInput] {
        let mode = SMTPInputMode()
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(SMTPInputDecoder(mode: mode)))
        var out: [SMTPInput] = []
        func drain() throws {
            while let item = try channel.readInbound(as: SMTPInput.self) {
                out.append(item)
                if case let .commands(lines) = item, lines.last == "DATA", dataAfterDATA {
                    mode.set(.data)
                    try channel.writeInbound(ByteBuffer())
                }
            }
        }
        let bytes = Array(input.utf8)
        let step = chunked ?? bytes.count
        for start in stride(from: 0, to: bytes.count, by: max(1, step)) {
            try channel.writeInbound(ByteBuffer(bytes: bytes[start..<min(start + step, bytes.count)]))
            try drain()
        }
        _ = try? channel.finish()
        return out
    }

    /// The data octets and end markers, as text.
    func flatten(_ items: [SMTPInput]) -> [String] {
        var out: [String] = []
        var data = ""
        for item in items {
            switch item {
            case let .data(buffer): data += String(buffer: buffer)
            case let .dataEnd(long):
                out.append("data:" + data + (long ? " (too long)" : ""))
                data = ""
            case let .commands(lines): out += lines
            case .commandTooLong: out.append("<too long>")
            case .bareNewline: out.append("<bare newline>")
            case .overflow: out.append("<overflow>")
            }
        }
        if !data.isEmpty { out.append("partial:" + data) }
        return out
    }

    @Test("commands and data with dot-unstuffing; pipelined commands after the final dot", arguments: [nil, 1, 3])
    func commandsAndData(chunk: Int?) throws {
        let items = try decode("EHLO a\r\nMAIL FROM:<x@y>\r\nDATA\r\nSubject: s\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n", chunked: chunk)
        #expect(flatten(items) == ["EHLO a", "MAIL FROM:<x@y>", "DATA", "data:Subject: s\r\n\r\n.leading dot\r\n", "QUIT"])
    }

    @Test("SMTP smuggling: a bare LF or CR never ends the data; the connection's input stops there", arguments: [
        "\n.\r\n", "\r.\r\n", "\r\n.\n", "\n.\n",
    ])
    func smuggling(ending: String) throws {
        let input = "DATA\r\nSubject: one\r\n\r\nbody" + ending + "MAIL FROM:<evil@x>\r\nRCPT TO:<victim@y>\r\nDATA\r\nsmuggled\r\n.\r\n"
        let out = flatten(try decode(input))
        #expect(out.first == "DATA")
        #expect(out.contains("<bare newline>"))
        #expect(!out.contains("MAIL FROM:<evil@x>"))
        #expect(!out.contains { $0.hasPrefix("data:") })
    }

    @Test("the data before a bare newline comes out before the news of it, nothing after (found by fuzzing)", arguments: [nil, 1])
    func dataBeforeBareNewline(chunk: Int?) throws {
        let items = try decode("DATA\r\nx\r\n\r.\r\nMAIL FROM:<evil@x>\r\n", chunked: chunk)
        #expect(items.last == .bareNewline)
        #expect(flatten(items) == ["DATA", "<bare newline>", "partial:x\r\n"]) // the data came before the news
    }

    @Test("bare LF or CR in a command line", arguments: ["NOOP\n", "NO\rOP\r\n", "QUIT\r"])
    func bareInCommand(line: String) throws {
        let out = flatten(try decode(line + "NOOP\r\n"))
        #expect(out == ["<bare newline>"])
    }

    @Test("a bare CR anywhere in a line is found wherever the line sits in the read (the scans are memchr over the readable octets)",
          arguments: [nil, 1, 2, 5])
    func bareCRPositions(chunk: Int?) throws {
        // Commands: in a later line of the same read, and just before the CRLF.
        #expect(flatten(try decode("NOOP\r\nNO\rOP\r\nQUIT\r\n", chunked: chunk)) == ["NOOP", "<bare newline>"])
        #expect(flatten(try decode("NOOP\r\nNOOP\r\r\nQUIT\r\n", chunked: chunk)) == ["NOOP", "<bare newline>"])
        // Data: in a later line, just before the CRLF, and in a line with no LF yet.
        #expect(flatten(try decode("DATA\r\nok\r\nb\rad\r\n.\r\n", chunked: chunk)) == ["DATA", "<bare newline>", "partial:ok\r\n"])
        #expect(flatten(try decode("DATA\r\nok\r\nbad\r\r\n.\r\n", chunked: chunk)) == ["DATA", "<bare newline>", "partial:ok\r\n"])
        #expect(flatten(try decode("DATA\r\nok\r\nab\rcd", chunked: chunk)) == ["DATA", "<bare newline>", "partial:ok\r\n"])
        // A CR that ends a read is not bare: its LF comes next.
        #expect(flatten(try decode("DATA\r\nok\r\n.\r\nQUIT\r\n", chunked: chunk)) == ["DATA", "data:ok\r\n", "QUIT"])
    }

    @Test("a command line over 512 octets is refused without being buffered; the next line is read")
    func longCommand() throws {
        let out = flatten(try decode("NOOP " + String(repeating: "x", count: 600) + "\r\nQUIT\r\n", chunked: 100))
        #expect(out == ["<too long>", "QUIT"])
        #expect(flatten(try decode("NOOP " + String(repeating: "x", count: 505) + "\r\n")) == ["NOOP " + String(repeating: "x", count: 505)])
    }

    @Test("a text line over 1000 octets marks the message; the data still ends at the dot")
    func longTextLine() throws {
        let long = String(repeating: "y", count: 1200)
        let out = flatten(try decode("DATA\r\n" + long + "\r\nshort\r\n.\r\n", chunked: 256))
        #expect(out == ["DATA", "data:" + long + "\r\nshort\r\n (too long)"])
        let limit = String(repeating: "z", count: 998)
        #expect(flatten(try decode("DATA\r\n" + limit + "\r\n.\r\n")) == ["DATA", "data:" + limit + "\r\n"])
    }

    @Test("after DATA the decoder holds until the session answers; after STARTTLS pipelined octets are dropped")
    func holds() throws {
        let held = flatten(try decode("DATA\r\nSubject: early\r\n.\r\n", dataAfterDATA: false))
        #expect(held == ["DATA"])
        let tls = flatten(try decode("STARTTLS\r\nMAIL FROM:<injected@x>\r\n"))
        #expect(tls == ["STARTTLS"])
    }

    /// Feeds reads one at a time, with the session's mode switches in between.
    func reads(_ steps: [Either]) throws -> [String] {
        let mode = SMTPInputMode()
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(SMTPInputDecoder(mode: mode)))
        var out: [SMTPInput] = []
        for step in steps {
            switch step {
            case let .read(text): try channel.writeInbound(ByteBuffer(string: text))
            case let .mode(next):
                mode.set(next)
                try channel.writeInbound(ByteBuffer()) // the session's kick
            }
            while let item = try channel.readInbound(as: SMTPInput.self) { out.append(item) }
        }
        _ = try? channel.finish()
        return flatten(out)
    }

    enum Either {
        case read(String)
        case mode(SMTPInputMode.Mode)
    }

    @Test("CVE-2011-0411 class: plaintext in a later segment after STARTTLS never reaches the TLS session")
    func startTLSInjectionAcrossSegments() throws {
        // The session was still writing earlier replies when the second segment came in; then
        // TLS went in front and the decoder was switched back to commands.
        let out = try reads([.read("STARTTLS\r\n"), .read("MAIL FROM:<injected@evil.example>\r\n"), .mode(.command), .read("EHLO tls\r\n")])
        #expect(out == ["STARTTLS", "EHLO tls"])
        // The same with STARTTLS at the end of a pipelined group and its argument-less variants.
        let grouped = try reads([.read("HELP\r\nSTARTTLS \r\n"), .read("RCPT TO:<x@y>\r\n"), .mode(.command), .read("NOOP\r\n")])
        #expect(grouped == ["HELP", "STARTTLS ", "NOOP"])
    }

    @Test("DATA and STARTTLS hold whatever their argument: the decoder and the session share one definition", arguments: [
        "DATA ", "data", "DATA x", "STARTTLS x",
    ])
    func holdsForEveryVariant(line: String) throws {
        let out = try reads([.read(line + "\r\nMAIL FROM:<a@b>\r\n")])
        #expect(out == [line])
        #expect(SMTPCommandLine(line).endsPipelinedGroup)
    }

    @Test("octets pipelined past DATA are bounded: over maxHeld the connection is refused, not grown")
    func heldInputIsBounded() throws {
        let chunk = String(repeating: "junk junk\r\n", count: 10_000) // ~110 KB a read
        var steps: [Either] = [.read("DATA\r\n")]
        steps += Array(repeating: .read(chunk), count: SMTPInputDecoder.maxHeld / 110_000 + 2)
        let out = try reads(steps)
        #expect(out == ["DATA", "<overflow>"])
    }

    @Test("an over-long command whose read ends in CR keeps the CR: the LF in the next read ends the line")
    func longCommandEndingInCR() throws {
        let out = try reads([.read("NOOP " + String(repeating: "x", count: 600) + "\r"), .read("\nQUIT\r\n")])
        #expect(out == ["<too long>", "QUIT"])
    }
}

@Suite("Shared/SMTP: hop counting (MaxHopCount)")
struct HopCounterTests {
    @Test("trace fields are counted in the header only, in any chunking", arguments: [1, 3, 7, 1000])
    func counts(chunk: Int) {
        let message = "Received: from a\r\n\tby b; date\r\nRECEIVED: x\r\nVia: y\r\nMail-From: z\r\nX-Received: no\r\n"
            + "Received-SPF: no\r\nSubject: Received: no\r\n \tReceived: continuation\r\n\r\nReceived: in the body\r\n"
        var counter = HopCounter()
        let bytes = Array(message.utf8)
        for start in stride(from: 0, to: bytes.count, by: chunk) { counter.feed(bytes[start..<min(start + chunk, bytes.count)]) }
        #expect(counter.hops == 4)
        #expect(counter.headerDone)
    }
}
