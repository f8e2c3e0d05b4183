import Foundation
import SMTPInService
import Testing
import TestSupport

/// Scripted SMTP conversations over TCP with the in-process server: every reply the seed's
/// sendmail gave, the limits, the smuggling inputs, the peers going away.
@Suite("smtp-in conversations", .serialized)
struct SMTPConversationTests {
    @Test("greeting, EHLO extensions, HELO, and the goaway privacy replies")
    func greetingAndPrivacy() async throws {
        let smtp = try await SMTPHarness()
        let c = try SMTPTestClient(port: smtp.port)
        let greeting = try await c.reply()
        #expect(greeting.hasPrefix("220 host.domain.com ESMTP Domain YOU/Original; "))
        #expect(greeting.range(of: #"; \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}$"#, options: .regularExpression) != nil)
        #expect(try await c.command("MAIL FROM:<a@b.test>") == "503 5.0.0 Polite people say HELO first")
        #expect(try await c.command("EHLO client.test") == """
            250-host.domain.com Hello client.test [127.0.0.2], pleased to meet you
            250-ENHANCEDSTATUSCODES
            250-PIPELINING
            250-8BITMIME
            250-SIZE 5242880
            250-DSN
            250-SMTPUTF8
            250 HELP
            """)
        #expect(try await c.command("HELO client.test") == "250 host.domain.com Hello client.test [127.0.0.2], pleased to meet you")
        #expect(try await c.command("VRFY you") == "252 2.5.2 Cannot VRFY user; try RCPT to attempt delivery (or try finger)")
        #expect(try await c.command("EXPN staff") == "502 5.7.0 Sorry, we do not allow this operation")
        #expect(try await c.command("NOOP") == "250 2.0.0 OK")
        #expect(try await c.command("STARTTLS") == "502 5.5.1 STARTTLS not available")
        #expect(try await c.command("FOO") == "500 5.5.1 Command unrecognized: \"FOO\"")
        #expect(try await c.command("QUIT") == "221 2.0.0 host.domain.com closing connection")
        #expect(try await c.closed())
        let all = [greeting]
        #expect(!all.joined().lowercased().contains("mailstack"))
    }

    @Test("a transaction: replies, the queue gets the envelope with its parameters, a Received: line and the dot-unstuffed body")
    func transaction() async throws {
        let smtp = try await SMTPHarness()
        let c = try SMTPTestClient(port: smtp.port)
        _ = try await c.reply()
        _ = try await c.command("EHLO client.test")
        #expect(try await c.command("MAIL FROM:<sender@client.test> SIZE=120 BODY=8BITMIME RET=HDRS ENVID=QQ+2B1") == "250 2.1.0 <sender@client.test>... Sender ok")
        #expect(try await c.command("RCPT TO:<you@domain1.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;you+2Bx@domain1.com") == "250 2.1.5 <you@domain1.com>... Recipient ok")
        #expect(try await c.command("RCPT TO:<nobody@domain1.com>") == "550 5.5.1 <nobody@domain1.com>... Unknown user")
        #expect(try await c.command("RCPT TO:<friend@remote.test>") == "550 5.7.1 <friend@remote.test>... Relaying denied")
        #expect(try await c.command("RCPT TO:<Postmaster>") == "250 2.1.5 <Postmaster>... Recipient ok")
        #expect(try await c.command("DATA") == "354 Enter mail, end with \".\" on a line by itself")
        c.send("Subject: hello\r\n\r\n..dot\r\nbody\r\n.\r\n")
        let accepted = try await c.reply()
        #expect(accepted.range(of: #"^250 2\.0\.0 [0-9A-Za-z]{14} Message accepted for delivery$"#, options: .regularExpression) != nil)
        let queued = smtp.queued.withLock { $0 }
        #expect(queued.count == 1)
        guard let message = queued.first else { return }
        let id = accepted.split(separator: " ")[2]
        #expect(message.submit.queueID == String(id))
        #expect(message.submit.sender == "sender@client.test")
        #expect(message.submit.declaredSize == 120 && message.submit.body == .body8Bitmime && message.submit.ret == .retHdrs)
        #expect(message.submit.envid == "QQ+1")
        #expect(message.submit.recipients.map(\.address) == ["you@domain1.com", "postmaster@host.domain.com"])
        #expect(message.submit.recipients[0].notify == 3 && message.submit.recipients[0].orcpt == "rfc822;you+x@domain1.com")
        #expect(message.submit.clientAddress == "127.0.0.2" && message.submit.clientName == "client.test" && message.submit.helo == "client.test")
        #expect(message.message.hasPrefix("Received: from client.test (client.test [127.0.0.2])\r\n\tby host.domain.com with ESMTP id \(id); "))
        #expect(message.message.hasSuffix("\r\nSubject: hello\r\n\r\n.dot\r\nbody\r\n"))
        #expect(try await c.command("RSET") == "250 2.0.0 Reset state")
        #expect(try await c.command("DATA") == "503 5.0.0 Need MAIL command")
        _ = try await c.command("MAIL FROM:<>")
        #expect(try await c.command("MAIL FROM:<>") == "503 5.5.0 Sender already specified")
        #expect(try await c.command("DATA") == "503 5.0.0 Need RCPT (recipient)")
    }

    @Test("PIPELINING: a whole transaction in one write gets every reply, in order")
    func pipelining() async throws {
        let smtp = try await SMTPHarness()
        let c = try SMTPTestClient(port: smtp.port)
        _ = try await c.reply()
        // relay-policy is asked about the group's RCPTs at once; the replies still come in order.
        c.send("EHLO client.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<you@domain1.com>\r\nRCPT TO:<nobody@domain1.com>\r\n"
               + "RCPT TO:<bad\r\nRCPT TO:<user2@domain1.com>\r\nDATA\r\n")
        #expect(try await c.reply().hasPrefix("250-host.domain.com"))
        #expect(try await c.reply() == "250 2.1.0 <a@client.test>... Sender ok")
        #expect(try await c.reply() == "250 2.1.5 <you@domain1.com>... Recipient ok")
        #expect(try await c.reply() == "550 5.5.1 <nobody@domain1.com>... Unknown user")
        #expect(try await c.reply() == "501 5.5.2 Syntax error in parameters scanning \"TO\"")
        #expect(try await c.reply() == "250 2.1.5 <user2@domain1.com>... Recipient ok")
        #expect(try await c.reply().hasPrefix("354 "))
        c.send("Subject: p\r\n\r\nx\r\n.\r\nMAIL FROM:<b@client.test>\r\nRCPT TO:<you@domain1.com>\r\nDATA\r\n")
        #expect(try await c.reply().hasPrefix("250 2.0.0 "))
        #expect(try await c.reply() == "250 2.1.0 <b@client.test>... Sender ok")
        #expect(try await c.reply() == "250 2.1.5 <you@domain1.com>... Recipient ok")
        #expect(try await c.reply().hasPrefix("354 "))
        c.send("y\r\n.\r\n")
        #expect(try await c.reply().hasPrefix("250 2.0.0 "))
        // A client that does not wait for the 354: the data it sent along is held, then read.
        c.send("MAIL FROM:<c@client.test>\r\nRCPT TO:<you@domain1.com>\r\nDATA\r\nSubject: eager\r\n\r\nz\r\n.\r\nQUIT\r\n")
        #expect(try await c.reply().hasPrefix("250 2.1.0 "))
        #expect(try await c.reply().hasPrefix("250 2.1.5 "))
        #expect(try await c.reply().hasPrefix("354 "))
        #expect(try await c.reply().hasPrefix("250 2.0.0 "))
        #expect(try await c.reply().hasPrefix("221 "))
        #expect(smtp.queued.withLock { $0.count } == 3)
        #expect(smtp.queued.withLock { $0.first?.submit.recipients.map(\.address) } == ["you@domain1.com", "user2@domain1.com"])
        #expect(smtp.queued.withLock { $0.last?.message.hasSuffix("Subject: eager\r\n\r\nz\r\n") } == true)
    }

    @Test("a connect-time refusal: greeting, then the refusal for every transaction command (as sendmail)", arguments: [
        ("127.0.0.5", "550 5.7.1 Access denied"),
        ("127.0.0.3", "450 4.7.1 Access denied. IP name lookup failed [127.0.0.3]"),
    ])
    func connectRefusal(address: String, refusal: String) async throws {
        let smtp = try await SMTPHarness()
        let c = try SMTPTestClient(port: smtp.port, from: address)
        #expect(try await c.reply().hasPrefix("220 host.domain.com ESMTP"))
        #expect(try await c.command("EHLO x.test").hasPrefix("250-host.domain.com Hello"))
        #expect(try await c.command("MAIL FROM:<a@x.test>") == refusal)
        #expect(try await c.command("RCPT TO:<you@domain1.com>") == refusal)
        #expect(try await c.command("DATA") == refusal)
        #expect(try await c.command("VRFY you") == refusal)
        #expect(try await c.command("QUIT").hasPrefix("221 "))
        #expect(smtp.queued.withLock { $0.isEmpty })
    }

    @Test("access DISCARD: the client sees its message accepted, and nothing reaches the queue")
    func discard() async throws {
        let smtp = try await SMTPHarness()
        let c = try SMTPTestClient(port: smtp.port, from: "127.0.0.6")
        _ = try await c.reply()
        _ = try await c.command("EHLO x.test")
        #expect(try await c.command("MAIL FROM:<a@x.test>") == "250 2.1.0 <a@x.test>... Sender ok")
        #expect(try await c.command("RCPT TO:<you@domain1.com>") == "250 2.1.5 <you@domain1.com>... Recipient ok")
        _ = try await c.command("DATA")
        c.send("Subject: dropped\r\n\r\nx\r\n.\r\n")
        #expect(try await c.reply().hasSuffix(" Message accepted for delivery"))
        #expect(smtp.queued.withLock { $0.isEmpty })
    }

    @Test("relay-policy unreachable: greeted, 421 at the first command, 451 at MAIL and RCPT; queue unreachable: 451 after the data")
    func peersDown() async throws {
        let smtp = try await SMTPHarness()
        smtp.policyDown.withLock { $0 = true }
        let refused = try SMTPTestClient(port: smtp.port)
        // The connect question goes out with the greeting; its failure answers the first command.
        #expect(try await refused.reply().hasPrefix("220 host.domain.com ESMTP"))
        #expect(try await refused.command("EHLO client.test") == "421 4.3.0 host.domain.com Service temporarily unavailable; try again later")
        #expect(try await refused.closed())

        smtp.policyDown.withLock { $0 = false }
        let c = try SMTPTestClient(port: smtp.port)
        _ = try await c.reply()
        _ = try await c.command("EHLO client.test")
        smtp.policyDown.withLock { $0 = true }
        #expect(try await c.command("MAIL FROM:<a@client.test>") == "451 4.3.0 Temporary system failure; try again later")
        smtp.policyDown.withLock { $0 = false }
        _ = try await c.command("MAIL FROM:<a@client.test>")
        smtp.policyDown.withLock { $0 = true }
        #expect(try await c.command("RCPT TO:<you@domain1.com>") == "451 4.3.0 <you@domain1.com>... Temporary system failure; try again later")
        smtp.policyDown.withLock { $0 = false }
        _ = try await c.command("RCPT TO:<you@domain1.com>")
        smtp.queueDown.withLock { $0 = true }
        _ = try await c.command("DATA")
        c.send("Subject: q\r\n\r\n" + String(repeating: "line\r\n", count: 30000) + ".\r\n")
        #expect(try await c.reply() == "451 4.3.0 Temporary system failure; message not accepted, try again later")
        #expect(try await c.command("NOOP") == "250 2.0.0 OK")
    }

    @Test("size limits: SIZE= at MAIL and the octets during DATA get 552 5.3.4")
    func sizeLimits() async throws {
        let smtp = try await SMTPHarness { $0.maxMessageSize = 10_000 }
        let c = try SMTPTestClient(port: smtp.port)
        _ = try await c.reply()
        _ = try await c.command("EHLO client.test")
        #expect(try await c.command("MAIL FROM:<a@client.test> SIZE=10001") == "552 5.3.4 Message size exceeds fixed maximum message size (10000)")
        _ = try await c.command("MAIL FROM:<a@client.test> SIZE=9000")
        _ = try await c.command("RCPT TO:<you@domain1.com>")
        _ = try await c.command("DATA")
        c.send(String(repeating: "0123456789\r\n", count: 1000) + ".\r\n")
        #expect(try await c.reply() == "552 5.3.4 Message size exceeds fixed maximum message size (10000)")
        #expect(smtp.queued.withLock { $0.isEmpty })
        #expect(try await c.command("NOOP") == "250 2.0.0 OK")
    }

    @Test("limits: 100 recipients then 452, a 1001-octet text line, a 513-octet command, bad commands cut at the cap")
    func limits() async throws {
        let smtp = try await SMTPHarness { $0.maxBadCommands = 3 }
        let c = try SMTPTestClient(port: smtp.port)
        _ = try await c.reply()
        _ = try await c.command("EHLO client.test")
        _ = try await c.command("MAIL FROM:<a@client.test>")
        for i in 0..<100 { #expect(try await c.command("RCPT TO:<u\(i)@domain1.com>").hasPrefix("250 ")) }
        #expect(try await c.command("RCPT TO:<u100@domain1.com>") == "452 4.5.3 Too many recipients")
        _ = try await c.command("DATA")
        c.send(String(repeating: "x", count: 1000) + "\r\n.\r\n")
        #expect(try await c.reply() == "554 5.6.0 Message line longer than 1000 octets (RFC 5321 section 4.5.3.1.6)")
        #expect(try await c.command("NOOP " + String(repeating: "y", count: 508)) == "500 5.5.0 Command line too long")
        #expect(try await c.command("MAIL FROM:<a@b") == "501 5.5.2 Syntax error in parameters scanning \"FROM\"")
        #expect(try await c.command("BOGUS") == "500 5.5.1 Command unrecognized: \"BOGUS\"")
        #expect(try await c.command("BOGUS") == "421 4.7.0 host.domain.com Too many bad commands; closing connection")
        #expect(try await c.closed())
    }

    @Test("SMTP smuggling: a bare LF or CR in the data is refused and the connection closed; nothing is queued", arguments: [
        "\n.\r\n", "\r.\r\n", "\r\n.\n", "\n.\n",
    ])
    func smuggling(ending: String) async throws {
        let smtp = try await SMTPHarness()
        let c = try SMTPTestClient(port: smtp.port)
        _ = try await c.reply()
        _ = try await c.command("EHLO client.test")
        _ = try await c.command("MAIL FROM:<a@client.test>")
        _ = try await c.command("RCPT TO:<you@domain1.com>")
        _ = try await c.command("DATA")
        c.send("Subject: one\r\n\r\nfirst" + ending + "MAIL FROM:<admin@domain1.com>\r\nRCPT TO:<user2@domain1.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n")
        let refusal = try await c.reply()
        #expect(refusal == "550 5.5.2 Error: bare <LF> received", "after \(ending.debugDescription)")
        #expect(try await c.closed())
        try await Task.sleep(for: .milliseconds(100))
        #expect(smtp.queued.withLock { $0.isEmpty })
    }

    @Test("deadlines: a client trickling a command one octet at a time is cut at the command timeout")
    func dripFeed() async throws {
        let smtp = try await SMTPHarness { $0.commandTimeout = .seconds(1) }
        let c = try SMTPTestClient(port: smtp.port)
        _ = try await c.reply()
        // 300 octets at one per 150 ms would take 45 s: the cut comes long before, even on a
        // machine that stalls the server for seconds; the test ends at the cut.
        let trickle = Array(("NOOP and a long trickle of octets that never ends" + String(repeating: ".", count: 250)).utf8)
        let sent = Locked(0)
        let drip = Task {
            for byte in trickle {
                c.send(String(UnicodeScalar(byte)))
                sent.withLock { $0 += 1 }
                try await Task.sleep(for: .milliseconds(150))
            }
        }
        #expect(try await c.reply() == "421 4.4.2 host.domain.com Error: timeout exceeded")
        #expect(try await c.closed())
        // Cut while the client was still trickling, not at the end.
        #expect(sent.withLock { $0 } < trickle.count)
        drip.cancel()
    }

    @Test("connections per client address are capped with 421 4.3.2")
    func connectionCap() async throws {
        let smtp = try await SMTPHarness { $0.maxConnectionsPerClient = 2 }
        let first = try SMTPTestClient(port: smtp.port)
        let second = try SMTPTestClient(port: smtp.port)
        #expect(try await first.reply().hasPrefix("220 "))
        #expect(try await second.reply().hasPrefix("220 "))
        let third = try SMTPTestClient(port: smtp.port)
        #expect(try await third.reply() == "421 4.3.2 host.domain.com Too many connections; try again later")
        let other = try SMTPTestClient(port: smtp.port, from: "127.0.0.4")
        #expect(try await other.reply().hasPrefix("220 "))
        withExtendedLifetime((first, second)) {}
    }
}
