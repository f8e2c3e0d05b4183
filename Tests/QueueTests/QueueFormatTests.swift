import Foundation
import NIOPosix
import QueueService
import SMTP
import Testing
import TestSupport

@Suite("queue: spool files, headers, reports")
struct QueueFormatTests {
    let rewriter = HeaderRewriter(masqueradeAs: "domain.com", masqueradeDomains: ["host.domain.com", "host", "localhost"],
                                  masqueradeEnvelope: true, hostname: "host.domain.com")

    @Test("masquerading: From:/Sender: of the host's own names and the envelope sender; others untouched")
    func masquerade() {
        let section = Array("From: Admin <admin@Host.Domain.com>\r\nSender: root@host\r\nTo: you@host.domain.com\r\nReply-To: x@host.domain.community\r\nDate: Sun, 1 Nov 2026 00:00:00 +0000\r\nMessage-ID: <a@b>\r\n\r\n".utf8)
        let (out, id) = rewriter.rewrite(section, id: "Q", now: 0)
        #expect(String(decoding: out, as: UTF8.self) == "From: Admin <admin@domain.com>\r\nSender: root@domain.com\r\nTo: you@host.domain.com\r\nReply-To: x@host.domain.community\r\nDate: Sun, 1 Nov 2026 00:00:00 +0000\r\nMessage-ID: <a@b>\r\n\r\n")
        #expect(id == "<a@b>")
        #expect(rewriter.envelopeSender("admin@host.domain.com") == "admin@domain.com")
        #expect(rewriter.envelopeSender("root") == "root@domain.com")
        #expect(rewriter.envelopeSender("friend@example.net") == "friend@example.net")
        #expect(rewriter.envelopeSender("") == "")
    }

    @Test("Date: and Message-ID: are added before the empty line when missing")
    func addedFields() {
        let (out, id) = rewriter.rewrite(Array("Subject: hi\r\n\r\n".utf8), id: "0ABCDEF1234567", now: 1_700_000_000)
        let text = String(decoding: out, as: UTF8.self)
        #expect(id == "<0ABCDEF1234567@host.domain.com>")
        #expect(text.hasPrefix("Subject: hi\r\nDate: "))
        #expect(text.hasSuffix("\r\nMessage-ID: <0ABCDEF1234567@host.domain.com>\r\n\r\n"))
    }

    @Test("a message of one line that is no field: Date: and Message-ID: follow it, not glued to it (found by fuzzing)")
    func addedAfterNonField() {
        let (out, _) = rewriter.rewrite(Array("hello world\r\n".utf8), id: "0ABCDEFGHIJKLM", now: 1_700_000_000)
        let text = String(decoding: out, as: UTF8.self)
        #expect(text.hasPrefix("hello world\r\nDate: "))
        #expect(text.hasSuffix("\r\nMessage-ID: <0ABCDEFGHIJKLM@host.domain.com>\r\n"))
        #expect(rewriter.rewrite(out, id: "0ABCDEFGHIJKLM", now: 1_700_000_100).section == out)
    }

    @Test("a folded Message-ID is reported unfolded: it is logged as msgid= (found by fuzzing)")
    func foldedMessageID() {
        let (out, id) = rewriter.rewrite(Array("Message-ID:\r\n <folded@x>\r\nDate: x\r\n\r\n".utf8), id: "Q", now: 0)
        #expect(id == "<folded@x>")
        #expect(String(decoding: out, as: UTF8.self) == "Message-ID:\r\n <folded@x>\r\nDate: x\r\n\r\n")
    }

    @Test("queue ids: 14 safe characters, unique")
    func ids() {
        let ids = (0..<1000).map { _ in QueueID.make() }
        #expect(Set(ids).count == 1000)
        #expect(ids.allSatisfy(QueueID.isValid))
    }

    /// Counts its draws; gives `value` each time.
    struct CountingGenerator: RandomNumberGenerator {
        var value: UInt64
        var draws = 0
        mutating func next() -> UInt64 {
            draws += 1
            return value
        }
    }

    @Test("queue ids: the arrival second in base 62, then 8 random characters from one draw (one getrandom, not eight)")
    func idDraws() {
        var low = CountingGenerator(value: 1) // next(upperBound:) takes it: 1 * 62^8 leaves a high word of 0
        #expect(QueueID.make(now: 62 * 62 + 1, using: &low) == "000101" + "00000000")
        #expect(low.draws == 1)
        var high = CountingGenerator(value: .max)
        #expect(QueueID.make(now: 0, using: &high) == "000000" + "zzzzzzzz")
        #expect(high.draws == 1)
    }

    @Test("spool: a committed message is recovered with its header; tmp/ leftovers go; a torn file goes to corrupt/")
    func spoolRecovery() async throws {
        let dir = try TestSupport.temporaryDirectory("spool")
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let spool = try Spool(directory: dir, pool: pool)
        var envelope = QueueEnvelope(id: QueueID.make(), arrival: 1_700_000_000, sender: "a b%@x.test",
                                     recipients: [.init(address: "you@domain1.com", notify: [.failure, .delay], orcpt: "rfc822;you@domain1.com")])
        envelope.envid = "E 1"
        envelope.ret = .headers
        envelope.clientAddress = "127.0.0.2"
        envelope.clientName = "client.test"
        let writer = try spool.create(envelope)
        try await writer.append(Array("Subject: x\r\n\r\nbody\r\n".utf8))
        try await writer.commit()
        // An unacknowledged message in tmp/ and a torn one in msg/.
        try "partial".write(toFile: dir + "/tmp/LEFTOVER", atomically: false, encoding: .utf8)
        try "mailstack-queue 1\nid TORN\n\nbody without end".write(toFile: dir + "/msg/TORN", atomically: false, encoding: .utf8)
        var state = QueueState()
        state.attempts = 2
        state.finished[0] = .delivered
        state.lastError = "451 4.3.0 try\nlater"
        try await spool.write(state, of: envelope.id)

        let (stored, removed, corrupt) = try await spool.recover()
        #expect(removed == 1)
        #expect(corrupt.count == 1 && corrupt[0].hasPrefix("TORN"))
        #expect(FileManager.default.fileExists(atPath: dir + "/corrupt/TORN"))
        #expect(stored.count == 1)
        #expect(stored.first?.envelope == envelope)
        #expect(stored.first?.state == state)
        let body = try await spool.body(of: envelope.id, at: stored[0].location)
        #expect(String(decoding: body, as: UTF8.self) == "Subject: x\r\n\r\nbody\r\n")
        try await pool.shutdownGracefully()
    }

    @Test("a failure DSN: sendmail's subject and transcript, RFC 3464 fields, the message returned (headers only with RET=HDRS)")
    func failureReport() {
        var original = QueueEnvelope(id: "ORIG", arrival: 1_700_000_000, sender: "s@x.test",
                                     recipients: [.init(address: "nobody@domain1.com", orcpt: "rfc822;nobody@domain1.com")])
        original.envid = "ENV1"
        let entry = DeliveryReport.Entry(recipient: original.recipients[0], action: "failed", status: "5.1.1",
                                         diagnostic: "550 5.1.1 <nobody@domain1.com>... User unknown", remoteMTA: "mx.test")
        let message = Array("Subject: hello\r\nFrom: s@x.test\r\n\r\nsecret body\r\n".utf8)
        let full = String(decoding: DeliveryReport(kind: .failure, hostname: "host.domain.com", original: original, entries: [entry])
            .message(to: "s@x.test", id: "DSN1", now: 1_700_000_100, originalMessage: message), as: UTF8.self)
        #expect(full.contains("\r\nSubject: Returned mail: see transcript for details\r\n"))
        #expect(full.contains("Content-Type: multipart/report; report-type=delivery-status;"))
        #expect(full.contains("   ----- The following addresses had permanent fatal errors -----\r\n<nobody@domain1.com>\r\n"))
        #expect(full.contains("\r\nOriginal-Envelope-Id: ENV1\r\n"))
        #expect(full.contains("\r\nOriginal-Recipient: rfc822;nobody@domain1.com\r\nFinal-Recipient: RFC822; nobody@domain1.com\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: DNS; mx.test\r\nDiagnostic-Code: SMTP; 550 5.1.1 <nobody@domain1.com>... User unknown\r\n"))
        #expect(full.contains("Content-Type: message/rfc822\r\n\r\nSubject: hello\r\nFrom: s@x.test\r\n\r\nsecret body\r\n"))
        #expect(full.hasSuffix("\r\n--DSN1/host.domain.com--\r\n"))
        original.ret = .headers
        let headers = String(decoding: DeliveryReport(kind: .failure, hostname: "host.domain.com", original: original, entries: [entry])
            .message(to: "s@x.test", id: "DSN1", now: 1_700_000_100, originalMessage: message), as: UTF8.self)
        #expect(headers.contains("Content-Type: text/rfc822-headers\r\n\r\nSubject: hello\r\nFrom: s@x.test\r\n\r\n--DSN1"))
        #expect(!headers.contains("secret body"))
    }

    @Test("no field adds a line to a DSN: CR and LF in addresses, ENVID, ORCPT or a peer's reply become spaces (found by fuzzing)")
    func reportFieldsStayOnTheirLine() {
        var original = QueueEnvelope(id: "ORIG", arrival: 1_700_000_000, sender: "s@x.test",
                                     recipients: [.init(address: "a@x.test\r\nBcc: evil@x.test", orcpt: "rfc822;a\n@x")])
        original.envid = "E\r1"
        let entry = DeliveryReport.Entry(recipient: original.recipients[0], action: "failed", status: "5.1.1",
                                         diagnostic: "550 5.1.1 no\r\n\r\n--DSN1/host.domain.com\r\ninjected", remoteMTA: "mx.test")
        let text = String(decoding: DeliveryReport(kind: .failure, hostname: "host.domain.com", original: original, entries: [entry])
            .message(to: "s@x.test", id: "DSN1", now: 1_700_000_100, originalMessage: Array("Subject: s\r\n\r\nbody\r\n".utf8)), as: UTF8.self)
        #expect(text.contains("\r\nFinal-Recipient: RFC822; a@x.test  Bcc: evil@x.test\r\n"))
        #expect(text.contains("\r\nOriginal-Envelope-Id: E 1\r\n"))
        #expect(text.contains("\r\nDiagnostic-Code: SMTP; 550 5.1.1 no    --DSN1/host.domain.com  injected\r\n"))
        #expect(!text.contains("\r\nBcc:") && !text.contains("\r\ninjected"))
    }

    @Test("a delay warning: sendmail's subject and words, headers only")
    func delayReport() {
        let original = QueueEnvelope(id: "ORIG", arrival: 1_700_000_000, sender: "s@x.test", recipients: [.init(address: "far@remote.test")])
        let entry = DeliveryReport.Entry(recipient: original.recipients[0], action: "delayed", status: "4.4.1",
                                         diagnostic: "451 4.4.1 connection refused")
        let report = DeliveryReport(kind: .delay(warnAfter: .seconds(3600), returnAfter: .seconds(86400)), hostname: "host.domain.com",
                                    original: original, entries: [entry])
        let text = String(decoding: report.message(to: "s@x.test", id: "W1", now: 1_700_003_600,
                                                   originalMessage: Array("Subject: s\r\n\r\nbody\r\n".utf8)), as: UTF8.self)
        #expect(report.subject == "Warning: could not send message for past 1 hour")
        #expect(text.contains("**      THIS IS A WARNING MESSAGE ONLY      **"))
        #expect(text.contains("\r\nWarning: message still undelivered after 1 hour\r\nWill keep trying until message is 1 day old\r\n"))
        #expect(text.contains("\r\nAction: delayed\r\nStatus: 4.4.1\r\n"))
        #expect(text.contains("Content-Type: text/rfc822-headers"))
        #expect(!text.contains("body\r\n--"))
        #expect(DeliveryReport.words(.seconds(4 * 3600)) == "4 hours")
        #expect(DeliveryReport.words(.seconds(90)) == "90 seconds")
    }
}
