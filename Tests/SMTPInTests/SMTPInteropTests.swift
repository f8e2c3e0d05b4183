import Foundation
import Testing
import TestSupport

/// smtp-in as a binary in front of relay-policy, queue and drac-registry (the seed's maps, a
/// dnsmasq for the PTR checks), driven by real clients: swaks, Python's smtplib, Postfix's
/// smtp-source.
@Suite("smtp-in interop", .serialized)
struct SMTPInteropTests {
    static let dns = ["host-record=client.test,127.0.0.2"]

    func stack(submission: Bool = false) async throws -> StackHarness {
        try await StackHarness(services: ["drac-registry", "relay-policy", "queue", "smtp-in"], dnsRecords: Self.dns,
                               extra: submission ? ["smtp.submission=true"] : [], tls: true)
    }

    func python(_ arguments: [String]) async throws -> [String: Any] {
        let run = try await TestSupport.runAsync(["/usr/bin/python3", TestSupport.packageRoot + "/Tests/Interop/smtp_client.py"] + arguments)
        #expect(run.status == 0, "\(run.stderr)")
        return (try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    @Test("smtplib, plain and with STARTTLS: delivered to the Maildir with the same body, Received: names TLS")
    func smtplib() async throws {
        let stack = try await stack()
        let plain = try await python(["\(stack.smtpPort)", "127.0.0.2", "send", "friend@client.test", "you@domain1.com", "<plain@interop>"])
        #expect((plain["features"] as? [String])?.contains("starttls") == true)
        #expect((plain["refused"] as? [String: Any])?.isEmpty == true)
        let tls = try await python(["\(stack.smtpPort)", "127.0.0.2", "starttls", "friend@client.test", "you@domain1.com", "<tls@interop>"])
        #expect((tls["starttls"] as? [Any])?.first as? Int == 220)
        #expect((tls["cipher"] as? String)?.hasPrefix("TLSv1") == true)
        #expect((tls["features_after"] as? [String])?.contains("starttls") == false)
        try await TestSupport.eventually { stack.mailbox("you").count == 2 }
        let mails = stack.mailbox("you")
        let plainMail = mails.first { $0.contains("Message-ID: <plain@interop>") } ?? ""
        let tlsMail = mails.first { $0.contains("Message-ID: <tls@interop>") } ?? ""
        #expect(plainMail.contains("Received: from client.test (client.test [127.0.0.2])\n\tby host.domain.com with ESMTP id "))
        #expect(plainMail.hasSuffix("\n\n.a line with a leading dot\nbody\n"))
        #expect(tlsMail.contains("with ESMTPS id "))
        #expect(tlsMail.contains("\t(version=TLSv1."))
        _ = try await stack.stopAll()
    }

    @Test("plaintext pipelined behind STARTTLS is discarded, and the session starts over after TLS")
    func starttlsInjection() async throws {
        let stack = try await stack()
        let result = try await python(["\(stack.smtpPort)", "127.0.0.2", "inject"])
        #expect(result["starttls"] as? String == "220 2.0.0 Ready to start TLS")
        #expect(result["unexpected"] as? String == "", "the injected RSET was not answered")
        #expect(result["after_tls"] as? String == "503 5.0.0 Polite people say HELO first")
        _ = try await stack.stopAll()
    }

    @Test("CVE-2011-0411 class: MAIL sent in a later TCP segment while the server answers 30000 HELPs never reaches the TLS session")
    func starttlsInjectionAcrossSegments() async throws {
        let stack = try await stack()
        let result = try await python(["\(stack.smtpPort)", "127.0.0.2", "inject-segments"])
        #expect(result["starttls"] as? String == "220 2.0.0 Ready to start TLS")
        #expect((result["ehlo_after_tls"] as? String)?.hasPrefix("250-host.domain.com Hello") == true)
        #expect(result["mail_after_tls"] as? String == "250 2.1.0 <ok@client.test>... Sender ok",
                "an injected MAIL would make this 503 Sender already specified")
        _ = try await stack.stopAll()
        #expect(!stack.log("smtp-in").contains("injected@evil.example"))
    }

    @Test("swaks, plain and with --tls; relaying to a remote address is refused from outside")
    func swaks() async throws {
        let stack = try await stack()
        let plain = try await TestSupport.runAsync(["/usr/bin/swaks", "--server", "127.0.0.1:\(stack.smtpPort)", "--local-interface", "127.0.0.2",
                                                    "--ehlo", "client.test", "--from", "friend@client.test", "--to", "user2@domain1.com",
                                                    "--header", "Subject: swaks plain"])
        #expect(plain.status == 0, "\(plain.stdout)")
        #expect(plain.stdout.contains("<-  250 2.0.0 "))
        let tls = try await TestSupport.runAsync(["/usr/bin/swaks", "--server", "127.0.0.1:\(stack.smtpPort)", "--local-interface", "127.0.0.2",
                                                  "--tls", "--ehlo", "client.test", "--from", "friend@client.test", "--to", "user2@domain1.com",
                                                  "--header", "Subject: swaks tls"])
        #expect(tls.status == 0, "\(tls.stdout)")
        #expect(tls.stdout.contains("<-  220 2.0.0 Ready to start TLS"))
        let relay = try await TestSupport.runAsync(["/usr/bin/swaks", "--server", "127.0.0.1:\(stack.smtpPort)", "--local-interface", "127.0.0.2",
                                                    "--ehlo", "client.test", "--from", "friend@client.test", "--to", "someone@elsewhere.test"])
        #expect(relay.stdout.contains("<** 550 5.7.1 <someone@elsewhere.test>... Relaying denied"))
        try await TestSupport.eventually { stack.mailbox("user2").count == 2 }
        #expect(stack.mailbox("user2").contains { $0.contains("Subject: swaks tls") && $0.contains("with ESMTPS id") })
        _ = try await stack.stopAll()
    }

    @Test("submission: MAIL needs AUTH, AUTH needs TLS; after AUTH PLAIN/LOGIN the client may relay")
    func submission() async throws {
        let stack = try await stack(submission: true)
        let result = try await python(["\(stack.submissionPort)", "127.0.0.2", "auth", "you", "secret1", "you@domain1.com",
                                       "friend@remote.test", "<auth@interop>"])
        #expect((result["features"] as? [String])?.contains("auth") == false, "no AUTH before TLS")
        #expect((result["mail_before_auth"] as? [Any])?.first as? Int == 530)
        #expect((result["features_after"] as? [String])?.contains("auth") == true)
        #expect((result["bad_login"] as? [Any])?.first as? Int == 535)
        #expect((result["login"] as? [Any])?.first as? Int == 235)
        #expect((result["refused"] as? [String: Any])?.isEmpty == true)
        try await TestSupport.eventually { stack.log("queue").contains("to=<friend@remote.test>") }
        #expect(stack.log("smtp-in").contains("AUTH LOGIN as you"))
        _ = try await stack.stopAll()
    }

    @Test("Postfix's smtp-source as a load client: 200 messages over 10 connections, all in the Maildir")
    func smtpSource() async throws {
        let stack = try await stack()
        let run = try await TestSupport.runAsync([TestSupport.packageRoot + "/scripts/postfix-tool", "smtp-source", "-s", "10", "-m", "200",
                                                  "-l", "2048", "-f", "load@client.test", "-t", "user4@domain2.tv", "-M", "client.test",
                                                  "127.0.0.1:\(stack.smtpPort)"])
        #expect(run.status == 0, "\(run.stderr)")
        try await TestSupport.eventually(timeout: .seconds(30)) { stack.mailbox("user4").count == 200 }
        let statuses = try await stack.stopAll()
        #expect(statuses.values.allSatisfy { $0 == 0 })
    }

    @Test("SIGKILL of smtp-in and of queue under SMTP load: every message answered 250 is delivered")
    func crashes() async throws {
        let stack = try await stack()
        let acknowledged = Locked<Set<String>>([])
        let stop = Locked(false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for sender in 0..<4 {
                group.addTask {
                    var n = 0
                    while !stop.withLock({ $0 }) {
                        guard let c = try? SMTPTestClient(port: stack.smtpPort, from: "127.0.0.2"),
                              (try? await c.reply())?.hasPrefix("220 ") == true,
                              (try? await c.command("EHLO client.test"))?.hasPrefix("250") == true else {
                            try await Task.sleep(for: .milliseconds(30))
                            continue
                        }
                        while !stop.withLock({ $0 }) {
                            n += 1
                            let id = "<s\(sender)-\(n)@crash.test>"
                            c.send("MAIL FROM:<load@client.test>\r\nRCPT TO:<user4@domain2.tv>\r\nDATA\r\n")
                            guard (try? await c.reply())?.hasPrefix("250") == true, (try? await c.reply())?.hasPrefix("250") == true,
                                  (try? await c.reply())?.hasPrefix("354") == true else { break }
                            c.send("Message-ID: \(id)\r\nSubject: crash\r\n\r\n" + String(repeating: "z", count: 900) + "\r\n.\r\n")
                            guard let answer = try? await c.reply(), !answer.isEmpty else { break }
                            if answer.hasPrefix("250 ") { acknowledged.withLock { _ = $0.insert(id) } }
                        }
                    }
                }
            }
            // Each SIGKILL once 20 more messages were answered 250 (an event, not a time: on a
            // loaded machine a fixed sleep saw too few), at a random point of the 20 after that.
            for victim in ["smtp-in", "queue", "smtp-in"] {
                let target = acknowledged.withLock { $0.count } + 20 + Int.random(in: 0..<20)
                try await TestSupport.eventually { acknowledged.withLock { $0.count } >= target }
                try await stack.stop(victim, signal: SIGKILL)
                try await stack.start(victim)
            }
            let last = acknowledged.withLock { $0.count } + 20
            try await TestSupport.eventually { acknowledged.withLock { $0.count } >= last }
            stop.withLock { $0 = true }
            try await group.waitForAll()
        }
        let expected = acknowledged.withLock { $0 }
        #expect(expected.count > 50)
        print("smtp crash test: \(expected.count) messages answered 250 across 3 SIGKILLs")
        try await TestSupport.eventually(timeout: .seconds(30)) {
            let delivered = Set(stack.mailbox("user4").compactMap { mail in
                mail.split(separator: "\n").first { $0.hasPrefix("Message-ID: ") }.map { String($0.dropFirst(12)) }
            })
            return expected.isSubset(of: delivered)
        }
        _ = try await stack.stopAll()
    }
}
