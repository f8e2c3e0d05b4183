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

    static func stack(dmarc: String, records: [String] = []) async throws -> StackHarness {
        try await StackHarness(services: ["drac-registry", "relay-policy", "queue", "pop3", "smtp-in"], dnsRecords: dnsRecords + records,
                               extra: ["policy.spf=check", "policy.dmarc=\(dmarc)", "dns.timeout=1s"])
    }

    /// An RSA key for DKIM (1024 bits: its TXT record fits one string on dnsmasq's command
    /// line): the private key's file and the record to publish.
    static func dkimKey(_ dir: String) async throws -> (path: String, record: String) {
        let path = dir + "/dkim.pem"
        _ = try await TestSupport.runAsync(["/usr/bin/openssl", "genrsa", "-traditional", "-out", path, "1024"])
        let der = try await TestSupport.runAsync(["/bin/sh", "-c", "/usr/bin/openssl rsa -in \(path) -pubout -outform DER 2>/dev/null | base64 -w0"])
        return (path, "v=DKIM1; k=rsa; p=" + der.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The message signed by dkimpy (Debian's python3-dkim) as d=signed.test, s=sel; LF ends.
    static func signed(_ message: String, key: String) async throws -> String {
        let script = """
            import dkim, sys
            m = sys.stdin.buffer.read().replace(b'\\n', b'\\r\\n')
            s = dkim.sign(m, b'sel', b'signed.test', open(sys.argv[1], 'rb').read(), include_headers=[b'from', b'to', b'subject', b'message-id'])
            sys.stdout.buffer.write((s + m).replace(b'\\r\\n', b'\\n'))
            """
        let run = try await TestSupport.runAsync(["/usr/bin/python3", "-c", script, key], input: Array(message.utf8))
        #expect(run.status == 0, "dkimpy: \(run.stderr)")
        return run.stdout
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
        #expect(message.contains("Authentication-Results: host.domain.com;\n\tspf=pass (good.test: matched ip4:127.0.0.0/29) smtp.mailfrom=alerts@good.test;\n\tdkim=none;\n\tdmarc=pass (p=reject) header.from=good.test\n"), "\(message)")
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

    @Test("DKIM: a signature by an aligned d= passes DMARC though SPF fails; the same message altered is refused")
    func dkim() async throws {
        let dir = try TestSupport.temporaryDirectory("dkim")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let key = try await Self.dkimKey(dir)
        let stack = try await Self.stack(dmarc: "enforce", records: [
            "txt-record=sel._domainkey.signed.test,\(key.record)", "txt-record=signed.test,v=spf1 -all",
            "txt-record=_dmarc.signed.test,v=DMARC1; p=reject; adkim=s",
        ])
        let text = "From: Alerts <alerts@signed.test>\nTo: you@domain1.com\nSubject: signed\nMessage-ID: <signed@test>\n\nsigned body\n"
        let message = try await Self.signed(text, key: key.path)
        #expect(message.hasPrefix("DKIM-Signature: "))
        let good = try await SeedScenarioTests.session(stack.smtpPort, from: "127.0.0.2", [
            "EHLO client.test", "MAIL FROM:<bounce@signed.test>", "RCPT TO:<you@domain1.com>", "DATA", message, "QUIT"])
        #expect(good[5].hasPrefix("250 2.0.0 "), "\(good)")
        let delivered = try await delivered(stack, "<signed@test>")
        #expect(delivered.contains("\tspf=fail (signed.test: matched -all) smtp.mailfrom=bounce@signed.test;\n\tdkim=pass header.d=signed.test header.s=sel;\n\tdmarc=pass (p=reject) header.from=signed.test\n"), "\(delivered)")

        let altered = message.replacingOccurrences(of: "signed body", with: "altered body").replacingOccurrences(of: "<signed@test>", with: "<altered@test>")
        let bad = try await SeedScenarioTests.session(stack.smtpPort, from: "127.0.0.2", [
            "EHLO client.test", "MAIL FROM:<bounce@signed.test>", "RCPT TO:<you@domain1.com>", "DATA", altered, "QUIT"])
        #expect(bad[5] == "550 5.7.1 Message refused by the DMARC policy of its From: domain", "\(bad)")
        #expect(stack.log("smtp-in").contains("dkim=fail:signed.test dmarc=fail from=signed.test p=reject disposition=reject"))
    }

    @Test("report-only: a p=reject failure is accepted, the header says dmarc=fail")
    func reportOnly() async throws {
        let stack = try await Self.stack(dmarc: "report-only")
        let accepted = try await Self.send(stack, domain: "bank.test", id: "<report@test>")
        #expect(accepted[5].hasPrefix("250 2.0.0 "), "\(accepted)")
        let message = try await delivered(stack, "<report@test>")
        #expect(message.contains("\tspf=fail (bank.test: matched -all) smtp.mailfrom=alerts@bank.test;\n\tdkim=none;\n\tdmarc=fail (p=reject) header.from=bank.test"), "\(message)")
    }
}
