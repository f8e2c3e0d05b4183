import NIOCore
import NIOEmbedded
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

    @Test("bare LF or CR in a command line", arguments: ["NOOP\n", "NO\rOP\r\n", "QUIT\r"])
    func bareInCommand(line: String) throws {
        let out = flatten(try decode(line + "NOOP\r\n"))
        #expect(out == ["<bare newline>"])
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
}
