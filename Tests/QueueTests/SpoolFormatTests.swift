import Foundation
import IPC
import IPCTransport
import NIOCore
import QueueService
import SMTP
import Testing
import TestSupport

/// The spool header's limits: what smtp-in can accept must be read back after a restart, octet
/// for octet, and what the header cannot carry must be refused before the message is taken.
@Suite("queue: spool header limits and octets")
struct SpoolFormatTests {
    /// `count` recipients at the sizes of RFC 5321 (a 254-octet address) and RFC 3461 (a
    /// 500-octet ORCPT), made of octets the header escapes (three octets each on disk).
    static func largeEnvelope(recipients count: Int) -> QueueEnvelope {
        let recipients = (0..<count).map { i in
            let local = "u\(i)%" + String(repeating: "%", count: 60 - String(i).count)
            let domain = String(repeating: "d", count: 254 - 1 - local.utf8.count - 5) + ".test"
            return QueueEnvelope.Recipient(address: local + "@" + domain, notify: [.success, .failure, .delay],
                                           orcpt: "rfc822;" + String(repeating: "% ", count: 244) + "x\(i)".padding(toLength: 5, withPad: "%", startingAt: 0))
        }
        var envelope = QueueEnvelope(id: QueueID.make(), arrival: 1_700_000_000, sender: String(repeating: "s", count: 240) + "@sender.test",
                                     recipients: recipients)
        envelope.envid = String(repeating: "%", count: 100)
        envelope.ret = .full
        envelope.clientAddress = "192.0.2.1"
        envelope.clientName = "client.test"
        envelope.helo = String(repeating: " ", count: 500)
        return envelope
    }

    @Test("50 recipients with 500-octet ORCPTs (a header over 64 KiB) are read back after a restart, not moved to corrupt/")
    func headerOver64KiB() async throws {
        let spool = try TestSpool()
        let envelope = Self.largeEnvelope(recipients: 50)
        let location = try await spool.store(envelope)
        #expect(location.headerLength > 64 * 1024)
        let (again, messages, corrupt) = try await spool.restarted()
        #expect(corrupt.isEmpty, "\(corrupt)")
        try #require(messages.count == 1)
        #expect(firstDifference(octets(envelope), octets(messages[0].envelope)) == nil)
        let body = try await again.spool.body(of: envelope.id, at: messages[0].location)
        #expect(body == Array("Subject: x\r\n\r\nbody\r\n".utf8))
        try await again.close()
    }

    @Test("the largest envelope smtp-in can accept (1000 recipients, smtp.max_recipients' ceiling, at RFC maxima, every octet escaped) survives a restart")
    func headerAtTheMaximum() async throws {
        let spool = try TestSpool()
        let envelope = Self.largeEnvelope(recipients: 1000)
        let location = try await spool.store(envelope)
        #expect(location.headerLength > 1_800_000)
        let (again, messages, corrupt) = try await spool.restarted()
        #expect(corrupt.isEmpty, "\(corrupt)")
        #expect(messages.count == 1)
        #expect(firstDifference(octets(envelope), messages.first.map { octets($0.envelope) } ?? []) == nil)
        try await again.close()
    }

    @Test("fields that start with a combining mark, emoji sequences and other non-ASCII text come back octet for octet")
    func graphemeClusters() async throws {
        let spool = try TestSpool()
        let texts = [
            "\u{301}envid", "\u{301}", "\u{200D}\u{1F469}", "\u{1F469}\u{200D}\u{1F4BB}", "\u{1F1EB}\u{1F1F7}", "e\u{301}",
            "\u{E9}", "\u{FE0F}x", "\u{85}\u{2028}", "\u{10FFFF}\u{FFFD}", "\u{20D7}\u{302}\u{303}", "日本語",
        ]
        var stored: [QueueEnvelope] = []
        for (i, text) in texts.enumerated() {
            var envelope = QueueEnvelope(id: QueueID.make(), arrival: 1_700_000_000 + Int64(i), sender: text + "@x.test",
                                         recipients: [.init(address: text, notify: .failure, orcpt: text), .init(address: "\u{301}b@y.test", orcpt: "\u{301}")])
            envelope.envid = text
            envelope.clientAddress = text
            envelope.clientName = text
            envelope.helo = text
            try await spool.store(envelope)
            stored.append(envelope)
        }
        let (again, messages, corrupt) = try await spool.restarted()
        #expect(corrupt.isEmpty, "\(corrupt)")
        #expect(messages.count == texts.count)
        for envelope in stored {
            let back = messages.first { $0.envelope.id == envelope.id }.map { octets($0.envelope) } ?? []
            #expect(firstDifference(octets(envelope), back) == nil, "\(envelope.envid.unicodeScalars.map { String($0.value, radix: 16) })")
        }
        try await again.close()
    }

    @Test("a state whose error starts with a combining mark comes back octet for octet")
    func stateGraphemeClusters() async throws {
        let spool = try TestSpool()
        let envelope = QueueEnvelope(id: QueueID.make(), arrival: 1_700_000_000, sender: "", recipients: [.init(address: "a@b.test")])
        try await spool.store(envelope)
        var state = QueueState()
        state.attempts = 3
        state.lastError = "\u{301}451 4.3.0 e\u{301} \u{1F469}\u{200D}\u{1F4BB}"
        state.finished[0] = .failed
        try await spool.spool.write(state, of: envelope.id)
        let (again, messages, _) = try await spool.restarted()
        #expect(firstDifference(octets(state), messages.first.map { octets($0.state) } ?? []) == nil)
        try await again.close()
    }

    @Test("golden bytes: a file as the spool has always written it reads back, and the writer still writes exactly those bytes")
    func golden() async throws {
        let spool = try TestSpool()
        let header = "mailstack-queue 1\nid 1xYWV3b1nZkBHG\narrival 1700000000\nsender a%20b%25@x.test\nenvid \u{301}E%201\nret HDRS\n"
            + "body 8BITMIME\nsmtputf8 1\nclient 127.0.0.2 client.test\nhelo client.test\n"
            + "rcpt 6 you@domain1.com rfc822;you@domain1.com\nrcpt 0 \u{301}b@y.test \n\n"
        let body = "Subject: x\r\n\r\nbody\r\n"
        let file = header + body + "\nmailstack-end 0000000000000020\n"
        try file.write(toFile: spool.dir + "/msg/1xYWV3b1nZkBHG", atomically: false, encoding: .utf8)
        var expected = QueueEnvelope(id: "1xYWV3b1nZkBHG", arrival: 1_700_000_000, sender: "a b%@x.test",
                                     recipients: [.init(address: "you@domain1.com", notify: [.failure, .delay], orcpt: "rfc822;you@domain1.com"),
                                                  .init(address: "\u{301}b@y.test")])
        (expected.envid, expected.ret, expected.body, expected.smtputf8) = ("\u{301}E 1", .headers, .eightBitMIME, true)
        (expected.clientAddress, expected.clientName, expected.helo) = ("127.0.0.2", "client.test", "client.test")
        let (messages, _, corrupt) = try await spool.spool.recover()
        #expect(corrupt.isEmpty, "\(corrupt)")
        try #require(messages.count == 1)
        #expect(firstDifference(octets(expected), octets(messages[0].envelope)) == nil)
        #expect(messages[0].location.headerLength == header.utf8.count && messages[0].location.bodyLength == body.utf8.count)
        #expect(try expected.serialized() == Array(header.utf8))
        try await spool.close()
    }

    @Test("a header's RET and BODY are keywords compared as octets: anything else is a damaged file",
          arguments: [("ret FULL", true), ("ret HDRS", true), ("ret full", false), ("ret X", false), ("ret FUL\u{301}L", false),
                      ("body 7BIT", true), ("body 8BITMIME", true), ("body 8bitmime", false), ("body BINARYMIME", false)])
    func keywords(line: String, valid: Bool) throws {
        let header = "mailstack-queue 1\nid 1xYWV3b1nZkBHG\narrival 1700000000\nsender a@b.test\n\(line)\nrcpt 0 c@d.test \n\n"
        if valid {
            let envelope = try QueueEnvelope.parse(ArraySlice(header.utf8))
            #expect(envelope.ret?.rawValue ?? envelope.body?.rawValue == String(line.split(separator: " ")[1]))
        } else {
            #expect(throws: (any Error).self) { _ = try QueueEnvelope.parse(ArraySlice(header.utf8)) }
        }
    }

    @Test("an envelope whose header would exceed the spool's maximum is refused by the writer, and by the queue before its 250")
    func oversizedHeaderRefused() async throws {
        let spool = try TestSpool()
        #expect(throws: QueueEnvelope.Unstorable.self) { _ = try spool.spool.create(Self.largeEnvelope(recipients: 3000)) }
        #expect(spool.files("tmp").isEmpty && spool.files("msg").isEmpty)
        try await spool.close()

        let harness = try QueueHarness()
        try await harness.start()
        let submit = Mailstack_Ipc_QueueSubmit.with {
            $0.sender = "a@b.test"
            $0.recipients = Self.largeEnvelope(recipients: 3000).recipients.map { r in .with { $0.address = r.address; $0.orcpt = r.orcpt } }
        }
        let body = AsyncStream<ByteBuffer> {
            $0.yield(ByteBuffer(string: "Subject: x\r\n\r\nbody\r\n"))
            $0.finish()
        }
        await #expect(throws: IPCHandlerError.self) { _ = try await harness.queue.accept(submit, body: body) }
        let stored = ["tmp", "msg"].flatMap { (try? FileManager.default.contentsOfDirectory(atPath: harness.dir + "/spool/" + $0)) ?? [] }
            .filter { !isBlank($0) }
        #expect(stored.isEmpty)
        await harness.stop()
    }

    @Test("what the header cannot carry is refused by the writer, and nothing is left in tmp/ or msg/")
    func unstorable() async throws {
        let spool = try TestSpool()
        let good = QueueEnvelope(id: QueueID.make(), arrival: 1_700_000_000, sender: "a@b.test", recipients: [.init(address: "c@d.test")])
        var cases: [(String, QueueEnvelope)] = []
        for id in ["", "a b", "../x", "a\nb", "é"] { var e = good; e.id = id; cases.append(("id '\(id)'", e)) }
        for arrival: Int64 in [0, -1] { var e = good; e.arrival = arrival; cases.append(("arrival \(arrival)", e)) }
        var none = good
        none.recipients = []
        cases.append(("no recipients", none))
        for (why, envelope) in cases {
            #expect(throws: (any Error).self, "\(why)") { _ = try spool.spool.create(envelope) }
        }
        #expect(spool.files("tmp").isEmpty && spool.files("msg").isEmpty)
        try await spool.close()
    }
}
