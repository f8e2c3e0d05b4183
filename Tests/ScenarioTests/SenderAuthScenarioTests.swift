import Foundation
import Testing
import TestSupport

/// SPF and DMARC end to end (issue 21): every service binary, the records in a dnsmasq on
/// loopback, clients from 127.0.0.2 (an ordinary client) and 127.0.0.7 (one that logs in to
/// POP3 first, so drac-registry lets it relay).
@Suite("sender authentication: SPF and DMARC through smtp-in", .serialized)
struct SenderAuthScenarioTests {
    static let dnsRecords = [
        "host-record=client.test,127.0.0.2", "host-record=roaming.test,127.0.0.7",
        // bank.test: SPF that never passes from here, DMARC p=reject.
        "txt-record=bank.test,v=spf1 ip4:192.0.2.1 -all", "txt-record=_dmarc.bank.test,v=DMARC1; p=reject",
        // shop.test: p=quarantine on the organizational domain only (mail from its subdomain).
        "txt-record=mail.shop.test,v=spf1 -all", "txt-record=_dmarc.shop.test,v=DMARC1; p=quarantine",
        // good.test: SPF passes for 127.0.0.2, p=reject.
        "txt-record=good.test,v=spf1 ip4:127.0.0.0/29 -all", "txt-record=_dmarc.good.test,v=DMARC1; p=reject",
        // (dnsmasq takes a TXT on its command line as it is, without quotes: no commas in them.)
        // slow.test: every lookup goes to a port where nothing answers (DNS down).
        "server=/slow.test/127.0.0.1#9",
    ]

    static func stack(dmarc: String) async throws -> StackHarness {
        try await StackHarness(services: ["drac-registry", "relay-policy", "queue", "pop3", "smtp-in"], dnsRecords: dnsRecords,
                               extra: ["policy.spf=check", "policy.dmarc=\(dmarc)", "dns.timeout=1s"])
    }

    static func send(_ stack: StackHarness, from source: String = "127.0.0.2", domain: String, id: String, extraHeader: String = "") async throws -> [String] {
        try await SeedScenarioTests.session(stack.smtpPort, from: source, [
            "EHLO client.test", "MAIL FROM:<alerts@\(domain)>", "RCPT TO:<you@domain1.com>", "DATA",
            "\(extraHeader)From: Alerts <alerts@\(domain)>\nTo: you@domain1.com\nSubject: dmarc\nMessage-ID: \(id)\n\nbody\n", "QUIT",
        ])
    }

    func delivered(_ stack: StackHarness, _ id: String) async throws -> String {
        try await TestSupport.eventually { stack.mailbox("you").contains { $0.contains(id) } }
        return stack.mailbox("you").first { $0.contains(id) } ?? ""
    }

    @Test("enforce: p=reject failure refused with 550 5.7.1, pass delivered with its header, quarantine marked, forged results removed")
    func enforce() async throws {
        let stack = try await Self.stack(dmarc: "enforce")
        let refused = try await Self.send(stack, domain: "bank.test", id: "<reject@test>")
        #expect(refused[5] == "550 5.7.1 Message refused by the DMARC policy of its From: domain", "\(refused)")
        #expect(stack.log("smtp-in").contains("dmarc=fail from=bank.test p=reject disposition=reject"))

        let forged = "Authentication-Results: host.domain.com; dmarc=pass header.from=bank.test\nAuthentication-Results: elsewhere.test; spf=pass\n"
        let passed = try await Self.send(stack, domain: "good.test", id: "<pass@test>", extraHeader: forged)
        #expect(passed[5].hasPrefix("250 2.0.0 "), "\(passed)")
        let message = try await delivered(stack, "<pass@test>")
        #expect(message.contains("Authentication-Results: host.domain.com;\n\tspf=pass (good.test: matched ip4:127.0.0.0/29) smtp.mailfrom=alerts@good.test;\n\tdmarc=pass (p=reject) header.from=good.test\n"), "\(message)")
        #expect(!message.contains("dmarc=pass header.from=bank.test"))
        #expect(message.contains("Authentication-Results: elsewhere.test; spf=pass"))
        // Ours on top, then Received:.
        let lines = message.split(separator: "\n")
        #expect(lines.firstIndex { $0.hasPrefix("Authentication-Results: host.domain.com") }! < lines.firstIndex { $0.hasPrefix("Received: ") }!)

        let quarantined = try await Self.send(stack, domain: "mail.shop.test", id: "<quarantine@test>")
        #expect(quarantined[5].hasPrefix("250 2.0.0 "), "\(quarantined)")
        let marked = try await delivered(stack, "<quarantine@test>")
        #expect(marked.contains("X-Mailstack-Quarantine: DMARC policy of mail.shop.test (host.domain.com)"))
        #expect(marked.contains("dmarc=fail (p=quarantine) header.from=mail.shop.test"))
        #expect(!(try await delivered(stack, "<pass@test>")).contains("X-Mailstack-Quarantine"))
    }

    @Test("enforce: a client that may relay (POP-before-SMTP) is never refused; DNS down is temperror and accepted")
    func relayAndTemperror() async throws {
        let stack = try await Self.stack(dmarc: "enforce")
        let login = try await SeedScenarioTests.pop(stack.pop3Port, user: "you", from: "127.0.0.7", delete: false)
        #expect((login["login"] as? String)?.hasPrefix("+OK") == true)
        try await TestSupport.eventually { stack.log("drac-registry").contains("drac add 127.0.0.7 until") }
        let roaming = try await Self.send(stack, from: "127.0.0.7", domain: "bank.test", id: "<roaming@test>")
        #expect(roaming[5].hasPrefix("250 2.0.0 "), "\(roaming)")
        #expect(try await delivered(stack, "<roaming@test>").contains("dmarc=fail (p=reject) header.from=bank.test"))
        #expect(stack.log("smtp-in").contains("disposition=accept (client may relay)"))

        let down = try await Self.send(stack, domain: "slow.test", id: "<down@test>")
        #expect(down[5].hasPrefix("250 2.0.0 "), "\(down)")
        let message = try await delivered(stack, "<down@test>")
        #expect(message.contains("\tspf=temperror"))
        #expect(message.contains("\tdmarc=temperror"))
    }

    @Test("report-only: a p=reject failure is accepted, the header says dmarc=fail")
    func reportOnly() async throws {
        let stack = try await Self.stack(dmarc: "report-only")
        let accepted = try await Self.send(stack, domain: "bank.test", id: "<report@test>")
        #expect(accepted[5].hasPrefix("250 2.0.0 "), "\(accepted)")
        let message = try await delivered(stack, "<report@test>")
        #expect(message.contains("\tspf=fail (bank.test: matched -all) smtp.mailfrom=alerts@bank.test;\n\tdmarc=fail (p=reject) header.from=bank.test"), "\(message)")
    }
}
