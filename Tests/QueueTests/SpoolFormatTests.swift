import Foundation
import IPC
import IPCTransport
import NIOCore
import QueueService
import SMTP
import Testing
import TestSupport

/// The spool header's limits: what smtp-in can accept must be read back after a restart, and what
/// the header cannot carry must be refused before the message is taken.
@Suite("queue: spool header limits and octets")
struct SpoolFormatTests {
    /// `count` recipients at the sizes of RFC 5321 (a 254-octet address) and RFC 3461 (a
    /// 500-octet ORCPT), made of octets the header escapes (three octets each on disk).
    static func largeEnvelope(recipients count: Int) -> QueueEnvelope {
        let recipients = (0..<count).map { i in
            let local = "u\(i)%" + String(repeating: "%", count: 60 - String(i).count)
            let domain = String(repeating: "d", count: 254 - 1 - local.utf8.count - 5) + ".test"
            return QueueEnvelope.Recipient(address: local + "@" + domain, notify: 7,
                                           orcpt: "rfc822;" + String(repeating: "% ", count: 244) + "x\(i)".padding(toLength: 5, withPad: "%", startingAt: 0))
        }
        var envelope = QueueEnvelope(id: QueueID.make(), arrival: 1_700_000_000, sender: String(repeating: "s", count: 240) + "@sender.test",
                                     recipients: recipients)
        envelope.envid = String(repeating: "%", count: 100)
        envelope.ret = "FULL"
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
        #expect(stored.isEmpty)
        await harness.stop()
    }
}
