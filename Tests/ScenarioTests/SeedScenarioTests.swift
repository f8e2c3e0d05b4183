import Foundation
import Testing
import TestSupport

/// What the original how-to tested, against every service binary: the seed's maps, a dnsmasq on
/// loopback for PTR and MX lookups, smtp-sinks on loopback standing in for the outside world,
/// and clients from 127.0.0.2 and up (resolving or not, as each case needs) through Python's
/// sockets and poplib. SMTP and POP3 listen on dual-stack [::] sockets, as systemd's units do,
/// so IPv4 clients arrive as ::ffff:a.b.c.d and must still be judged as a.b.c.d.
@Suite("the seed's scenario, end to end", .serialized)
struct SeedScenarioTests {
    static let dnsRecords = [
        // 127.0.0.2 resolves both ways; 127.0.0.3 has no PTR; 127.0.0.4's name points elsewhere;
        // 127.0.0.5's PTR lookup fails temporarily (forwarded to a port where nothing answers).
        "host-record=client.test,127.0.0.2", "host-record=other.test,127.0.0.6",
        "ptr-record=4.0.0.127.in-addr.arpa,forged.test", "host-record=forged.test,127.0.0.99",
        "server=/5.0.0.127.in-addr.arpa/127.0.0.1#9",
        // The outside world: every MX is loopback (the sink's port is outbound.port). The seed's
        // real destinations (docomo.ne.jp, domain.ne.jp) are answered here and never reached.
        "local=/ne.jp/", "host-record=mx.outside.test,127.0.0.1",
        "mx-host=outside.test,mx.outside.test,10", "mx-host=docomo.ne.jp,mx.outside.test,10",
        "mx-host=domain.ne.jp,mx.outside.test,10",
    ]

    /// The stack with MX delivery to `outside` and the seed's mailertable route to `routed`.
    static func stack(outside: SMTPSink, routed: SMTPSink? = nil, extra: [String] = []) async throws -> StackHarness {
        return try await StackHarness(
            dnsRecords: dnsRecords,
            extra: ["outbound.port=\(outside.port)", "outbound.host_backoff=1s"] + extra,
            mailertableRoute: routed.map { "[127.0.0.1]:\($0.port)" },
            dualStack: true)
    }

    /// One SMTP session from `source`: the greeting, then a reply per command.
    static func session(_ port: Int, from source: String, _ commands: [String]) async throws -> [String] {
        let run = try await TestSupport.runAsync(["/usr/bin/python3", TestSupport.packageRoot + "/Tests/Interop/smtp_session.py",
                                                  String(port), source] + commands)
        guard run.status == 0, let replies = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String] else {
            Issue.record("smtp_session.py: \(run.stdout) \(run.stderr)")
            return Array(repeating: "(no reply)", count: commands.count + 2)
        }
        // Room for the reply to a final dot, so a short session fails an expectation, not an index.
        return replies + Array(repeating: "(no reply)", count: max(0, commands.count + 2 - replies.count))
    }

    /// A POP3 login (and fetch) with poplib from `source`.
    static func pop(_ port: Int, user: String, from source: String, delete: Bool = true) async throws -> [String: Any] {
        var argv = ["/usr/bin/python3", TestSupport.packageRoot + "/Tests/Interop/poplib_fetch.py", String(port), user,
                    StackHarness.users[user]!, "--source", source]
        if delete { argv.append("--delete") }
        let run = try await TestSupport.runAsync(argv)
        guard run.status == 0, let result = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any] else {
            Issue.record("poplib_fetch.py: \(run.stdout) \(run.stderr)")
            return [:]
        }
        return result
    }

    static func relay(_ port: Int, from source: String, to recipient: String, id: String) async throws -> [String] {
        try await session(port, from: source, [
            "EHLO client.test", "MAIL FROM:<you@client.test>", "RCPT TO:<\(recipient)>", "DATA",
            "From: you@client.test\nTo: \(recipient)\nSubject: relay\nMessage-ID: \(id)\n\nrelayed\n", "QUIT",
        ])
    }

    @Test("relaying: refused before a POP3 login, accepted after one and delivered outside, refused again when the drac window expires")
    func popBeforeSMTP() async throws {
        let outside = try await SMTPSink()
        let stack = try await Self.stack(outside: outside, extra: ["drac.window=4s"])
        let before = try await Self.relay(stack.smtpPort, from: "127.0.0.2", to: "friend@outside.test", id: "<before@test>")
        #expect(before[3] == "550 5.7.1 <friend@outside.test>... Relaying denied")

        let login = try await Self.pop(stack.pop3Port, user: "you", from: "127.0.0.2")
        #expect((login["login"] as? String)?.hasPrefix("+OK") == true)
        #expect(stack.log("drac-registry").contains("drac add 127.0.0.2 until"))
        let loggedIn = ContinuousClock.now

        let after = try await Self.relay(stack.smtpPort, from: "127.0.0.2", to: "friend@outside.test", id: "<after@test>")
        #expect(after[3] == "250 2.1.5 <friend@outside.test>... Recipient ok")
        #expect(after[5].hasPrefix("250 2.0.0 "))
        try await TestSupport.eventually { outside.messages.contains { $0.contains("<after@test>") } }
        let delivered = outside.messages.first { $0.contains("<after@test>") } ?? ""
        #expect(delivered.contains("X-Rcpt-Args: <friend@outside.test>"))
        #expect(!outside.messages.contains { $0.contains("<before@test>") })

        // Another address did not log in: still refused while 127.0.0.2 may relay.
        let other = try await Self.relay(stack.smtpPort, from: "127.0.0.6", to: "friend@outside.test", id: "<other@test>")
        #expect(other[3].hasPrefix("550 5.7.1 <friend@outside.test>... Relaying denied"))

        try await Task.sleep(until: loggedIn + .seconds(5))
        let expired = try await Self.relay(stack.smtpPort, from: "127.0.0.2", to: "friend@outside.test", id: "<expired@test>")
        #expect(expired[3] == "550 5.7.1 <friend@outside.test>... Relaying denied")
        _ = try await stack.stopAll()
    }

    @Test("mail from outside: you@domain1.com's Maildir and POP3 with the same bytes, nobody@ refused at RCPT, user3@ forwarded to docomo.ne.jp")
    func inbound() async throws {
        let outside = try await SMTPSink()
        let stack = try await Self.stack(outside: outside)
        let body = "Dear you,\n.a line that starts with a dot\n\ttabbed line\n" + String(repeating: "0123456789", count: 90) + "\nend\n"
        let message = "From: friend@outside.test\nTo: you@domain1.com\nSubject: seed scenario\nMessage-ID: <inbound@test>\n\n" + body
        let replies = try await Self.session(stack.smtpPort, from: "127.0.0.2", [
            "EHLO client.test", "MAIL FROM:<friend@outside.test>", "RCPT TO:<you@domain1.com>", "RCPT TO:<nobody@domain1.com>",
            "RCPT TO:<user3@domain1.com>", "DATA", message, "QUIT",
        ])
        #expect(replies[3] == "250 2.1.5 <you@domain1.com>... Recipient ok")
        #expect(replies[4] == "550 5.5.1 <nobody@domain1.com>... Unknown user")
        #expect(replies[5] == "250 2.1.5 <user3@domain1.com>... Recipient ok")
        #expect(replies[7].hasPrefix("250 2.0.0 "))

        try await TestSupport.eventually { stack.mailbox("you").count == 1 }
        #expect(stack.mailbox("you")[0].hasSuffix("\n\n" + body))
        let fetched = try await Self.pop(stack.pop3Port, user: "you", from: "127.0.0.2")
        let messages = fetched["messages"] as? [[String: Any]] ?? []
        #expect(messages.count == 1)
        let hex = messages.first?["hex"] as? String ?? ""
        let bytes = stride(from: 0, to: hex.count, by: 2).compactMap { offset -> UInt8? in
            let start = hex.index(hex.startIndex, offsetBy: offset)
            return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)
        }
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasSuffix("\n\n" + body), "POP3 gave back other bytes: \(text)")
        #expect(text.contains("Message-ID: <inbound@test>"))
        #expect(stack.mailbox("nobody").isEmpty)

        try await TestSupport.eventually { outside.messages.contains { $0.contains("<inbound@test>") } }
        let forwarded = outside.messages.first { $0.contains("<inbound@test>") } ?? ""
        #expect(forwarded.contains("X-Rcpt-Args: <user3@docomo.ne.jp>"))
        #expect(forwarded.contains(body.replacingOccurrences(of: "\n", with: "\r\n")) || forwarded.contains(body))
        _ = try await stack.stopAll()
    }

    @Test("clients whose PTR lookup fails, fails temporarily or is forged get the seed's three 450 replies")
    func reverseLookups() async throws {
        let outside = try await SMTPSink()
        let stack = try await Self.stack(outside: outside)
        let cases = [
            ("127.0.0.3", "450 4.7.1 Access denied. IP name lookup failed [127.0.0.3]"),
            ("127.0.0.5", "450 4.7.1 Access denied. Cannot resolve PTR record for 127.0.0.5"),
            ("127.0.0.4", "450 4.7.1 Access denied. IP name possibly forged forged.test"),
        ]
        for (source, refusal) in cases {
            let replies = try await Self.session(stack.smtpPort, from: source, [
                "EHLO client.test", "MAIL FROM:<a@client.test>", "RCPT TO:<you@domain1.com>", "QUIT",
            ])
            #expect(replies.first?.hasPrefix("220 host.domain.com ESMTP") == true, "\(source): \(replies)")
            #expect(replies[2] == refusal, "\(source): \(replies)")
            #expect(replies[3] == refusal, "\(source): \(replies)")
        }
        let good = try await Self.session(stack.smtpPort, from: "127.0.0.2", ["EHLO client.test", "MAIL FROM:<a@client.test>", "QUIT"])
        #expect(good[2] == "250 2.1.0 <a@client.test>... Sender ok")
        #expect(stack.mailbox("you").isEmpty)
        _ = try await stack.stopAll()
    }

    @Test("the mailertable route smtp:[127.0.0.1]:PORT is used instead of the domain's MX")
    func mailertable() async throws {
        let outside = try await SMTPSink()
        let routed = try await SMTPSink()
        let stack = try await Self.stack(outside: outside, routed: routed)
        let replies = try await Self.relay(stack.smtpPort, from: "127.0.0.1", to: "someone@domain.ne.jp", id: "<routed@test>")
        #expect(replies[3] == "250 2.1.5 <someone@domain.ne.jp>... Recipient ok")
        do {
            try await TestSupport.eventually { routed.messages.contains { $0.contains("<routed@test>") } }
        } catch {
            Issue.record("not at the routed sink; queue log:\n\(stack.log("queue"))\nsmtpfeed-out log:\n\(stack.log("smtpfeed-out"))")
            throw error
        }
        #expect(routed.messages.first { $0.contains("<routed@test>") }?.contains("X-Rcpt-Args: <someone@domain.ne.jp>") == true)
        #expect(outside.messages.isEmpty, "the MX was used")
        try await TestSupport.eventually { stack.log("queue").contains("to=<someone@domain.ne.jp>") }
        let line = stack.log("queue").split(separator: "\n").first { $0.contains("to=<someone@domain.ne.jp>") } ?? ""
        #expect(line.contains("mailer=esmtp, relay=127.0.0.1 [127.0.0.1], dsn=2.0.0, stat=Sent"), "\(line)")
        _ = try await stack.stopAll()
    }

    @Test("banner, HELO first, VRFY and EXPN as the seed's sendmail.mc configured them")
    func banner() async throws {
        let outside = try await SMTPSink()
        let stack = try await Self.stack(outside: outside)
        let replies = try await Self.session(stack.smtpPort, from: "127.0.0.2", [
            "MAIL FROM:<a@client.test>", "VRFY you", "EXPN info", "EHLO client.test", "VRFY you@domain1.com", "EXPN root", "QUIT",
        ])
        // confSMTP_LOGIN_MSG `$j Domain YOU/Original; $b`, $j = $w.$m.
        let banner = replies[0]
        #expect(banner.hasPrefix("220 host.domain.com ESMTP Domain YOU/Original; "), "\(banner)")
        #expect(banner.range(of: #"; \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$"#, options: .regularExpression) != nil, "\(banner)")
        #expect(!banner.lowercased().contains("mailstack") && !banner.lowercased().contains("sendmail"))
        // goaway: needmailhelo, novrfy, noexpn.
        #expect(replies[1] == "503 5.0.0 Polite people say HELO first")
        #expect(replies[2] == "252 2.5.2 Cannot VRFY user; try RCPT to attempt delivery (or try finger)")
        #expect(replies[3] == "502 5.7.0 Sorry, we do not allow this operation")
        #expect(replies[4].hasPrefix("250-host.domain.com Hello client.test [127.0.0.2]"), "\(replies[4])")
        #expect(!replies[4].contains("VRFY") && !replies[4].contains("EXPN"))
        #expect(replies[5] == "252 2.5.2 Cannot VRFY user; try RCPT to attempt delivery (or try finger)")
        #expect(replies[6] == "502 5.7.0 Sorry, we do not allow this operation")
        #expect(replies[7].hasPrefix("221 2.0.0 host.domain.com closing connection"))
        _ = try await stack.stopAll()
    }
}
