import Foundation
import IPCTransport
import QueueService
import SMTP
import TestSupport
import Testing

@Suite("queue: delivery, retries, reports, restarts", .serialized)
struct QueueDeliveryTests {
    static let message = "From: Sender <admin@host.domain.com>\nTo: you@domain1.com\nSubject: test\n\nline one\n.dot line\n"

    @Test("local recipients land in their Maildir (LF, Return-Path, masqueraded); remote ones go to smtpfeed-out; the log says so")
    func localAndRemote() async throws {
        let harness = try QueueHarness()
        try await harness.start()
        let (id, size) = try await harness.submit(from: "admin@host.domain.com", to: ["you@domain1.com", "friend@remote.test"], message: Self.message)
        #expect(size > 0)
        try await TestSupport.eventually { await harness.queue.count == 0 }
        let mail = harness.mailbox("you")
        #expect(mail.count == 1)
        #expect(mail.first?.hasPrefix("Return-Path: <admin@domain.com>\nFrom: Sender <admin@domain.com>\nTo: you@domain1.com\nSubject: test\nDate: ") == true)
        #expect(mail.first?.contains("\nMessage-ID: <\(id)@host.domain.com>\n\nline one\n.dot line\n") == true)
        #expect(mail.first?.contains("\r") == false)
        let jobs = harness.remoteJobs.withLock { $0 }
        #expect(jobs.count == 1)
        #expect(jobs.first?.envelope.recipients.map(\.address) == ["friend@remote.test"])
        #expect(jobs.first?.envelope.sender == "admin@domain.com")
        let sent = String(decoding: jobs.first?.body ?? [], as: UTF8.self)
        #expect(sent.contains("\r\n\r\nline one\r\n.dot line\r\n"))
        let log = harness.logs.text
        #expect(log.contains { $0.hasPrefix("\(id): from=<admin@domain.com>, size=\(size), nrcpts=2, msgid=<\(id)@host.domain.com>, relay=client.test [127.0.0.2]") })
        #expect(log.contains { $0.hasPrefix("\(id): to=<you@domain1.com>, delay=00:00:0") && $0.contains("mailer=local, relay=local, dsn=2.0.0, stat=Sent (Delivered to you") })
        #expect(log.contains { $0.hasPrefix("\(id): to=<friend@remote.test>,") && $0.hasSuffix("mailer=esmtp, relay=sink [127.0.0.1], dsn=2.0.0, stat=Sent (Ok: queued as X)") })
        #expect(try FileManager.default.contentsOfDirectory(atPath: harness.dir + "/spool/msg").filter { !isBlank($0) }.isEmpty)
        await harness.stop()
    }

    @Test("an unknown user bounces: the sender gets sendmail's returned mail with the RFC 3464 report")
    func bounce() async throws {
        let harness = try QueueHarness()
        try await harness.start()
        let (id, _) = try await harness.submit(from: "user2@domain1.com", to: ["nobody@domain1.com"], message: Self.message)
        try await TestSupport.eventually { harness.mailbox("user2").count == 1 }
        let dsn = harness.mailbox("user2")[0]
        #expect(dsn.contains("Return-Path: <>\n"))
        #expect(dsn.contains("\nSubject: Returned mail: see transcript for details\n"))
        #expect(dsn.contains("\nFinal-Recipient: RFC822; nobody@domain1.com\nAction: failed\nStatus: 5.1.1\n"))
        #expect(dsn.contains("\nSubject: test\n"))
        #expect(harness.logs.text.contains { $0.hasPrefix("\(id): to=<nobody@domain1.com>,") && $0.hasSuffix("dsn=5.1.1, stat=550 5.1.1 <nobody@domain1.com>... User unknown") })
        await harness.stop()
    }

    @Test("a bounce to the null sender goes to postmaster, and a failing report to postmaster is not bounced again")
    func doubleBounce() async throws {
        let harness = try QueueHarness()
        try await harness.start()
        _ = try await harness.submit(from: "", to: ["nobody@domain1.com"], message: Self.message)
        try await TestSupport.eventually { harness.mailbox("postmaster").count == 1 }
        #expect(harness.mailbox("postmaster")[0].contains("Subject: Returned mail: see transcript for details"))
        try await TestSupport.eventually { await harness.queue.count == 0 }
        await harness.stop()

        // postmaster cannot receive: the double bounce is logged and dropped, not looped.
        let broken = try QueueHarness(route: { address in
            [MailTarget(.error(SMTPReply(550, "5.1.1", "<\(address)>... User unknown")))]
        })
        try await broken.start()
        _ = try await broken.submit(from: "", to: ["nobody@domain1.com"], message: Self.message)
        try await TestSupport.eventually { await broken.queue.count == 0 }
        #expect(broken.logs.text.contains { $0.contains("double bounce to <postmaster@host.domain.com> failed too; discarded") })
        await broken.stop()
    }

    @Test("NOTIFY=NEVER: no report; NOTIFY=SUCCESS: a return receipt")
    func notify() async throws {
        let harness = try QueueHarness()
        try await harness.start()
        _ = try await harness.submit(from: "user2@domain1.com", to: ["nobody@domain1.com"], message: Self.message, notify: 8)
        _ = try await harness.submit(from: "user2@domain1.com", to: ["you@domain1.com"], message: Self.message, notify: 1)
        try await TestSupport.eventually {
            let queued = await harness.queue.count
            return queued == 0 && harness.mailbox("user2").count == 1
        }
        let receipt = harness.mailbox("user2")[0]
        #expect(receipt.contains("Subject: Return receipt"))
        #expect(receipt.contains("\nFinal-Recipient: RFC822; you@domain1.com\nAction: delivered\nStatus: 2.0.0\n"))
        await harness.stop()
    }

    @Test("NOTIFY=SUCCESS relayed: \"relayed\" receipt only when the next hop lacked DSN; none when it took NOTIFY (RFC 3461 5.2.1/5.2.2)")
    func notifyRelayed() async throws {
        // smtpfeed-out's answer: far-dsn@ went to a DSN server (NOTIFY passed on), far-plain@ to one without DSN.
        let harness = try QueueHarness(remote: { job in
            job.envelope.recipients.map { r in
                DeliveryResult(code: 250, enhanced: "2.0.0", text: "Ok: queued as X", relay: "sink [127.0.0.1]", dsnPassedOn: r.address.hasPrefix("far-dsn@"))
            }
        })
        try await harness.start()
        let (id, _) = try await harness.submit(from: "user2@domain1.com", to: ["far-dsn@remote.test", "far-plain@remote.test"],
                                               message: Self.message, notify: 1)
        try await TestSupport.eventually {
            let queued = await harness.queue.count
            return queued == 0 && harness.mailbox("user2").count == 1
        }
        let receipt = harness.mailbox("user2")[0]
        #expect(receipt.contains("\nFinal-Recipient: RFC822; far-plain@remote.test\nAction: relayed\nStatus: 2.0.0\n"))
        #expect(!receipt.contains("far-dsn@remote.test"), "the DSN-capable next hop reports on far-dsn, not us")
        #expect(harness.logs.text.contains { $0.hasPrefix("\(id): to=<far-dsn@remote.test>,") && $0.contains("stat=Sent") })
        await harness.stop()

        // Only recipients whose NOTIFY went on: no receipt at all, the queue empties.
        let passed = try QueueHarness(remote: { job in
            job.envelope.recipients.map { _ in DeliveryResult(code: 250, enhanced: "2.0.0", text: "Ok", relay: "sink [127.0.0.1]", dsnPassedOn: true) }
        })
        try await passed.start()
        let (passedID, _) = try await passed.submit(from: "user2@domain1.com", to: ["far-dsn@remote.test"], message: Self.message, notify: 1)
        try await TestSupport.eventually { await passed.queue.count == 0 }
        #expect(passed.mailbox("user2").isEmpty)
        #expect(!passed.logs.text.contains { $0.contains("\(passedID): ") && $0.contains("DSN: Return receipt") })
        await passed.stop()
    }

    @Test("temporary failures: retried after min_age, a delay warning after warn_after, returned after return_after (sendmail's 15m/4h/5d)")
    func retryWarnReturn() async throws {
        let attempts = Locked(0)
        let harness = try QueueHarness(settings: {
            $0.minAge = .seconds(900)
            $0.warnAfter = .seconds(4 * 3600)
            $0.returnAfter = .seconds(5 * 86400)
        }, remote: { job in
            attempts.withLock { $0 += 1 }
            return job.envelope.recipients.map { _ in DeliveryResult(code: 451, enhanced: "4.4.1", text: "Connection refused", relay: "mx.remote.test [127.0.0.9]") }
        })
        try await harness.start()
        let (id, _) = try await harness.submit(from: "user2@domain1.com", to: ["far@remote.test"], message: Self.message)
        func attempted(_ n: Int) async throws {
            try await TestSupport.eventually { await harness.queue.list().first?.attempts == UInt32(n) }
        }
        try await attempted(1)
        // Not due before min_age: 14 minutes later nothing is tried.
        harness.clock.advance(.seconds(14 * 60))
        await harness.queue.releaseDue()
        #expect(await harness.queue.list().first?.attempts == 1)
        harness.clock.advance(.seconds(60))
        try await attempted(2)
        #expect(harness.mailbox("user2").isEmpty)
        // Past warn_after: one warning, however many attempts follow.
        harness.clock.advance(.seconds(4 * 3600))
        try await attempted(3)
        try await TestSupport.eventually { harness.mailbox("user2").count == 1 }
        harness.clock.advance(.seconds(900))
        try await attempted(4)
        #expect(harness.mailbox("user2").count == 1)
        // Past return_after: returned, and gone from the queue.
        harness.clock.advance(.seconds(5 * 86400))
        try await TestSupport.eventually {
            let queued = await harness.queue.count
            return harness.mailbox("user2").count == 2 && queued == 0
        }
        let reports = harness.mailbox("user2")
        let warning = reports.first { $0.contains("Subject: Warning: could not send message for past 4 hours") }
        let returned = reports.first { $0.contains("Subject: Returned mail: see transcript for details") }
        #expect(warning?.contains("Will keep trying until message is 5 days old") == true)
        #expect(warning?.contains("\nAction: delayed\nStatus: 4.4.1\nRemote-MTA: DNS; mx.remote.test\n") == true)
        #expect(returned?.contains("\nAction: failed\nStatus: 4.4.7\n") == true)
        #expect(attempts.withLock { $0 } == 5)
        #expect(harness.logs.text.contains { $0.hasPrefix("\(id): to=<far@remote.test>,") && $0.contains("stat=Deferred: 451 4.4.1 Connection refused") })
        await harness.stop()
    }

    @Test("after a restart: queued messages are delivered, delivered recipients are not sent again, mailq shows the rest")
    func restart() async throws {
        let dir = try TestSupport.temporaryDirectory("queue-restart")
        let down = try QueueHarness(dir: dir, settings: { $0.minAge = .seconds(3600); $0.warnAfter = .seconds(7200); $0.returnAfter = .seconds(9000) },
                                    remote: { job in job.envelope.recipients.map { _ in DeliveryResult(code: 421, enhanced: "4.3.2", text: "busy") } })
        try await down.start()
        let (id, _) = try await down.submit(from: "user2@domain1.com", to: ["you@domain1.com", "far@remote.test"], message: Self.message)
        try await TestSupport.eventually { await down.queue.list().first?.attempts == 1 }
        let listed = await down.queue.list()
        #expect(listed.map(\.queueID) == [id])
        #expect(listed.first?.recipients == ["far@remote.test"])
        #expect(listed.first?.lastError == "421 4.3.2 busy")
        await down.stop()
        #expect(down.mailbox("you").count == 1)

        let up = try QueueHarness(dir: dir)
        try await up.start()
        #expect(await up.queue.count == 1)
        #expect(try await up.queue.flush(id) == 1)
        try await TestSupport.eventually { await up.queue.count == 0 }
        #expect(up.mailbox("you").count == 1) // not delivered twice
        #expect(up.remoteJobs.withLock { $0.map { $0.envelope.recipients.map(\.address) } } == [["far@remote.test"]])
        await up.stop()
    }

    @Test("smtpfeed-out down for a moment (restarting): the message is retried after peerRetry, not a whole min_age")
    func peerRestart() async throws {
        let calls = Locked(0)
        let harness = try QueueHarness(settings: {
            $0.minAge = .seconds(3600)
            $0.warnAfter = .seconds(7200)
            $0.returnAfter = .seconds(9000)
            $0.peerRetry = .seconds(10)
        }, remote: { job in
            let n = calls.withLock { $0 += 1; return $0 }
            if n == 1 { throw POSIXError(.ECONNREFUSED) }
            return job.envelope.recipients.map { _ in DeliveryResult(code: 250, enhanced: "2.0.0", text: "ok", relay: "sink [127.0.0.1]") }
        })
        try await harness.start()
        _ = try await harness.submit(from: "user2@domain1.com", to: ["far@remote.test"], message: Self.message)
        try await TestSupport.eventually { await harness.queue.list().first?.attempts == 1 }
        #expect(await harness.queue.list().first?.lastError.contains("4.4.1 remote delivery unavailable") == true)
        harness.clock.advance(.seconds(10))
        try await TestSupport.eventually { await harness.queue.count == 0 }
        #expect(calls.withLock { $0 } == 2)
        await harness.stop()
    }
}

@Suite("queue: submissions that reuse an id")
struct QueueIDReuseTests {
    @Test("a submit naming the id of a queued message is refused; the queued message is untouched")
    func reusedID() async throws {
        let harness = try QueueHarness(settings: { $0.queueOnly = true })
        try await harness.start()
        let id = "ABCDEFGHJK1234"
        let (first, _) = try await harness.submit(from: "a@client.test", to: ["you@domain1.com"], message: "Subject: first\n\nfirst\n", queueID: id)
        #expect(first == id)
        let spooled = try String(contentsOfFile: harness.dir + "/spool/msg/" + id, encoding: .utf8)
        await #expect(throws: IPCHandlerError.self) {
            _ = try await harness.submit(from: "evil@client.test", to: ["user2@domain1.com"], message: "Subject: replaced\n\nx\n", queueID: id)
        }
        #expect(try String(contentsOfFile: harness.dir + "/spool/msg/" + id, encoding: .utf8) == spooled)
        #expect(await harness.queue.list().map(\.queueID) == [id])
        await harness.stop()
    }
}
