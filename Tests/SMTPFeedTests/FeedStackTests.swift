import Foundation
import Testing
import TestSupport

/// smtpfeed-out as a binary behind the queue: the seed's forward (user3@domain1.com to
/// user3@docomo.ne.jp, sent to an smtp-sink standing in for the outside world, never to the real
/// domain), a second mailstack as the next hop over STARTTLS, a bounce with the remote text,
/// and SIGKILLs of smtpfeed-out while it delivers.
@Suite("smtpfeed-out in the stack", .serialized)
struct FeedStackTests {
    static let services = ["drac-registry", "relay-policy", "smtpfeed-out", "queue", "smtp-in"]

    func send(_ port: Int, from: String, to: String, id: String) async throws -> String {
        let run = try await TestSupport.runAsync(["/usr/bin/swaks", "--server", "127.0.0.1:\(port)", "--from", from, "--to", to,
                                                  "--header", "Message-ID: \(id)", "--header", "Subject: feed"])
        return run.stdout
    }

    @Test("the seed's forward: user3@domain1.com goes out as user3@docomo.ne.jp (to a loopback smart host), the queue empties")
    func forward() async throws {
        let sink = try await SMTPSink()
        let stack = try await StackHarness(services: Self.services, extra: ["outbound.smart_host=[127.0.0.1]:\(sink.port)"])
        let reply = try await send(stack.smtpPort, from: "friend@client.test", to: "user3@domain1.com", id: "<forward@test>")
        #expect(reply.contains("<-  250 2.0.0 "))
        try await TestSupport.eventually { sink.messages.contains { $0.contains("<forward@test>") } }
        let dump = sink.messages.first { $0.contains("<forward@test>") } ?? ""
        #expect(dump.contains("X-Rcpt-Args: <user3@docomo.ne.jp>"))
        #expect(dump.contains("X-Mail-Args: <friend@client.test>"))
        try await TestSupport.eventually { stack.log("queue").contains("to=<user3@domain1.com>") && stack.log("queue").contains("stat=Sent") }
        let mailq = try await TestSupport.runAsync([TestSupport.binary("mailstack"), "mailq", "--set", "ipc.directory=\(stack.dir)"])
        #expect(mailq.stdout == "Mail queue is empty\n")
        _ = try await stack.stopAll()
    }

    @Test("a refusal from the next hop comes back to the sender as a bounce with the remote host's text")
    func remoteRefusal() async throws {
        let sink = try await SMTPSink(options: ["-f", "RCPT"])
        let stack = try await StackHarness(services: Self.services, extra: ["outbound.smart_host=[127.0.0.1]:\(sink.port)"])
        _ = try await send(stack.smtpPort, from: "user2@domain1.com", to: "someone@far.test", id: "<refused@test>")
        try await TestSupport.eventually { stack.mailbox("user2").count == 1 }
        let bounce = stack.mailbox("user2")[0]
        #expect(bounce.contains("Subject: Returned mail: see transcript for details"))
        #expect(bounce.contains("Final-Recipient: RFC822; someone@far.test\nAction: failed\nStatus: 5."))
        #expect(bounce.contains("Remote-MTA: DNS; 127.0.0.1"))
        #expect(bounce.contains("Diagnostic-Code: SMTP; 5"))
        _ = try await stack.stopAll()
    }

    @Test("another mailstack as the next hop: the mailertable route to its port, STARTTLS, the message in its Maildir")
    func mailstackToMailstack() async throws {
        // Two hosts: the receiver greets with its own name (the sender would refuse its own as a loop).
        let receiver = try await StackHarness(services: ["drac-registry", "relay-policy", "queue", "smtp-in"],
                                              extra: ["host.local_names=domain.ne.jp", "host.fqdn=mx.domain.ne.jp"], tls: true)
        let sender = try await StackHarness(services: Self.services, mailertableRoute: "[127.0.0.1]:\(receiver.smtpPort)")
        _ = try await send(sender.smtpPort, from: "you@domain1.com", to: "you@domain.ne.jp", id: "<hop@test>")
        try await TestSupport.eventually { receiver.mailbox("you").count == 1 }
        let mail = receiver.mailbox("you")[0]
        #expect(mail.contains("<hop@test>"))
        #expect(mail.contains("with ESMTPS id "))
        #expect(mail.contains("(version=TLSv1."))
        _ = try await sender.stopAll()
        _ = try await receiver.stopAll()
    }

    @Test("NOTIFY=SUCCESS relayed: to a next hop with DSN it is passed on and no receipt comes back; without DSN (smtp-sink -N) a \"relayed\" receipt does")
    func notifySuccess() async throws {
        for (options, offersDSN) in [([String](), true), (["-N"], false)] {
            let sink = try await SMTPSink(options: options)
            let stack = try await StackHarness(services: Self.services, extra: ["outbound.smart_host=[127.0.0.1]:\(sink.port)"])
            let python = """
                import smtplib, sys
                c = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
                c.ehlo("client.test")
                c.sendmail("user2@domain1.com", ["far@remote.test"], "Subject: dsn\\r\\nMessage-ID: <dsn@test>\\r\\n\\r\\nbody\\r\\n",
                           rcpt_options=["NOTIFY=SUCCESS"])
                c.quit()
                """
            let sent = try await TestSupport.runAsync(["/usr/bin/python3", "-c", python, "\(stack.smtpPort)"])
            #expect(sent.status == 0, "\(sent.stderr)")
            try await TestSupport.eventually { sink.messages.contains { $0.contains("<dsn@test>") } }
            let args = sink.messages.first { $0.contains("<dsn@test>") }?.split(separator: "\n").first { $0.hasPrefix("X-Rcpt-Args:") } ?? ""
            #expect(args.contains("NOTIFY=SUCCESS") == offersDSN, "\(args)")
            // The queue writes any receipt before it lets the message go: once it is empty,
            // a receipt, if there is one, is in user2's Maildir.
            try await TestSupport.eventually {
                let mailq = try? await TestSupport.runAsync([TestSupport.binary("mailstack"), "mailq", "--set", "ipc.directory=\(stack.dir)"])
                return mailq?.stdout == "Mail queue is empty\n"
            }
            let receipts = stack.mailbox("user2")
            if offersDSN {
                #expect(receipts.isEmpty, "\(receipts)")
            } else {
                #expect(receipts.count == 1 && receipts[0].contains("Final-Recipient: RFC822; far@remote.test\nAction: relayed\n"), "\(receipts)")
            }
            _ = try await stack.stopAll()
        }
    }

    @Test("mail loops end: a smart host that is this host bounces at once (553 5.3.5); two hosts relaying to each other stop at MaxHopCount (554 5.4.6)")
    func loops() async throws {
        // One host whose smart host is its own smtp-in: the greeting names us.
        let one = try await StackHarness(services: Self.services.filter { $0 != "smtpfeed-out" })
        try await one.start("smtpfeed-out", extra: ["outbound.smart_host=[127.0.0.1]:\(one.smtpPort)"])
        _ = try await send(one.smtpPort, from: "user2@domain1.com", to: "someone@far.test", id: "<self-loop@test>")
        try await TestSupport.eventually { one.mailbox("user2").count == 1 }
        #expect(one.mailbox("user2")[0].contains("config error: mail loops back to me"), "\(one.mailbox("user2"))")
        _ = try await one.stopAll()

        // Two hosts, each the other's smart host (the verified loop: a return receipt to a
        // sender whose mail comes back to us went round 1,452 times in a minute): every pass
        // adds a Received: line until a receiving smtp-in refuses the 26th.
        let a = try await StackHarness(services: Self.services.filter { $0 != "smtpfeed-out" })
        let b = try await StackHarness(services: Self.services, extra: ["host.fqdn=mx.loop.test",
                                                                         "outbound.smart_host=[127.0.0.1]:\(a.smtpPort)"])
        try await a.start("smtpfeed-out", extra: ["outbound.smart_host=[127.0.0.1]:\(b.smtpPort)"])
        let python = """
            import smtplib, sys
            c = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
            c.sendmail("user2@domain1.com", ["far@remote.test"], "Subject: loop\\r\\nMessage-ID: <loop@test>\\r\\n\\r\\nbody\\r\\n",
                       rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
            c.quit()
            """
        let sent = try await TestSupport.runAsync(["/usr/bin/python3", "-c", python, "\(a.smtpPort)"])
        #expect(sent.status == 0, "\(sent.stderr)")
        try await TestSupport.eventually(timeout: .seconds(60)) { a.mailbox("user2").count + b.mailbox("user2").count >= 1 }
        let bounces = a.mailbox("user2") + b.mailbox("user2")
        #expect(bounces.count == 1, "\(bounces.count) reports")
        #expect(bounces.first?.contains("Too many hops") == true, "\(bounces)")
        // Both queues empty: the loop has ended, not merely slowed.
        for stack in [a, b] {
            try await TestSupport.eventually {
                let mailq = try? await TestSupport.runAsync([TestSupport.binary("mailstack"), "mailq", "--set", "ipc.directory=\(stack.dir)"])
                return mailq?.stdout == "Mail queue is empty\n"
            }
        }
        let passes = a.log("smtp-in").components(separatedBy: "accepted,").count + b.log("smtp-in").components(separatedBy: "accepted,").count - 2
        #expect(passes <= 26, "\(passes) passes")
        _ = try await a.stopAll()
        _ = try await b.stopAll()
    }

    @Test("SIGKILL of smtpfeed-out while it delivers: every accepted message reaches the next hop after the restarts")
    func crash() async throws {
        let sink = try await SMTPSink()
        let stack = try await StackHarness(services: Self.services, extra: [
            "outbound.smart_host=[127.0.0.1]:\(sink.port)", "queue.min_age=1s", "queue.warn_after=1h", "queue.return_after=1d",
        ])
        let accepted = Locked<Set<String>>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for n in 0..<60 {
                    let id = "<crash-\(n)@test>"
                    if (try? await self.send(stack.smtpPort, from: "user2@domain1.com", to: "far\(n % 5)@remote.test", id: id))?
                        .contains("<-  250 2.0.0 ") == true {
                        accepted.withLock { _ = $0.insert(id) }
                    }
                }
            }
            for _ in 0..<2 {
                try await Task.sleep(for: .milliseconds(Int.random(in: 300...700)))
                try await stack.stop("smtpfeed-out", signal: SIGKILL)
                try await Task.sleep(for: .milliseconds(200))
                try await stack.start("smtpfeed-out")
            }
            try await group.waitForAll()
        }
        let expected = accepted.withLock { $0 }
        #expect(expected.count == 60)
        try await TestSupport.eventually(timeout: .seconds(40)) {
            let arrived = Set(sink.messages.compactMap { dump in
                dump.split(separator: "\n").first { $0.hasPrefix("Message-ID: ") }.map { String($0.dropFirst(12)).trimmingCharacters(in: .whitespacesAndNewlines) }
            })
            return expected.isSubset(of: arrived)
        }
        _ = try await stack.stopAll()
    }
}
