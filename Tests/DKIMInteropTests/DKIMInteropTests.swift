import DKIM
import DNS
import Foundation
import Logging
import NIOCore
import SMTP
import SMTPFeedService
import Testing
import TestSupport

/// Mail signed by smtpfeed-out, captured at a loopback smtp-sink (Postfix's), accepted by
/// independent verifiers (dkimpy; OpenDKIM's opendkim-testmsg and opendkim) with the keys that
/// `mailstack dkim keygen` wrote and printed, served by a real DNS server; and the reverse:
/// messages signed by dkimpy and by OpenDKIM verified by our DKIMVerifier.
@Suite("DKIM against dkimpy and OpenDKIM", .serialized)
struct DKIMInteropTests {
    /// 8-bit text, a folded To:, a long Subject:, and a body line longer than smtpfeed-out's
    /// 990-octet limit (broken before signing, as it is sent).
    static func message(from: String, id: String) -> String {
        let long = String(repeating: "0123456789", count: 250)
        return "Received: from client.test (client.test [127.0.0.2])\r\n\tby host.domain1.com; Tue, 1 Dec 2026 10:00:00 +0000\r\n"
            + "From: Sébastien <\(from)>\r\nTo: one@far.test, two@far.test,\r\n  three@far.test,\r\n\tfour@far.test\r\n"
            + "Subject: \(String(repeating: "a long subject line ", count: 15))\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n"
            + "Message-ID: <\(id)>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + "Grüße aus Köln, café crème.  \r\n\r\n.a line with a leading dot\r\n\(long)\r\nend\r\n\r\n"
    }

    struct Keys {
        let rsa: GeneratedKey
        let ed: GeneratedKey
        var records: [String: String] {
            ["rsa._domainkey.domain1.com": rsa.record, "ed._domainkey.domain2.com": ed.record,
             "rsa._domainkey.domain3.com": rsa.record, "ed._domainkey.domain3.com": ed.record]
        }
        var specs: [FeedSigner.KeySpec] {
            [FeedSigner.KeySpec(domain: "domain1.com", selector: "rsa", file: rsa.path),
             FeedSigner.KeySpec(domain: "domain2.com", selector: "ed", file: ed.path),
             FeedSigner.KeySpec(domain: "domain3.com", selector: "rsa", file: rsa.path),
             FeedSigner.KeySpec(domain: "domain3.com", selector: "ed", file: ed.path)]
        }
    }

    static func keys(in dir: String) async throws -> Keys {
        // domain3.com reuses domain1's and domain2's keys under its own name (copies: keygen never overwrites).
        Keys(rsa: try await GeneratedKey(domain: "domain1.com", selector: "rsa", algorithm: "rsa", directory: dir),
             ed: try await GeneratedKey(domain: "domain2.com", selector: "ed", algorithm: "ed25519", directory: dir))
    }

    @Test("smtpfeed-out's RSA, Ed25519 and double signatures pass dkimpy and OpenDKIM; a changed body fails both")
    func feedSignatures() async throws {
        let dir = try TestSupport.temporaryDirectory("dkimi")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keys = try await Self.keys(in: dir)
        #expect(keys.rsa.output.contains("- domain1.com=rsa:\(dir)/domain1.com.rsa.key"))
        let sink = try await SMTPSink()
        let dns = try await TestDNSServer(records: [])
        var settings = Feed.Settings()
        settings.hostname = "host.domain1.com"
        settings.smartHost = "[127.0.0.1]:\(sink.port)"
        settings.signer = try FeedSigner(keys: keys.specs, clock: { 1_796_000_000 })
        let feed = Feed(settings: settings, resolver: DNSResolver(servers: [DNSResolver.Server(dns.server)!], timeout: .seconds(5)),
                        logger: Logger(label: "dkim-interop"))
        let senders = ["rsa": "you@domain1.com", "ed": "you@domain2.com", "both": "you@Domain3.COM", "sub": "you@host.domain1.com",
                       "unsigned": "you@elsewhere.test"]
        for (name, from) in senders {
            var message = Feed.Message(id: name, sender: from, recipients: [EnvelopeRecipient(address: "one@far.test")],
                                       body: ByteBuffer(string: Self.message(from: from, id: "\(name)@test")))
            message.eightBit = true
            #expect(await feed.deliver(message).map(\.code) == [250], "\(name)")
        }
        try await TestSupport.eventually { sink.messages.count == senders.count }
        var captured: [String: [UInt8]] = [:]
        for dump in sink.messages {
            guard let name = senders.keys.first(where: { dump.contains("<\($0)@test>") }) else { continue }
            captured[name] = IndependentVerifiers.captured(dump)
        }
        let signatures = captured.mapValues { String(decoding: $0, as: UTF8.self).components(separatedBy: "DKIM-Signature:").count - 1 }
        #expect(signatures == ["rsa": 1, "ed": 1, "both": 2, "sub": 1, "unsigned": 0])
        let text = String(decoding: captured["rsa"] ?? [], as: UTF8.self)
        #expect(text.contains(String(repeating: "0123456789", count: 99)) && !text.contains(String(repeating: "0123456789", count: 100)),
                "the long line was broken at 990 octets")
        // A body changed after signing, for both algorithms.
        captured["rsa-changed"] = Array(text.replacingOccurrences(of: "café", with: "cafe").utf8)
        captured["ed-changed"] = Array(String(decoding: captured["ed"] ?? [], as: UTF8.self).replacingOccurrences(of: "\nend", with: "\nEnd").utf8)

        let verdicts = try await IndependentVerifiers.verify(captured, records: keys.records)
        #expect(verdicts["rsa"]?.description == "dkimpy=pass testmsg=pass opendkim=pass")
        #expect(verdicts["sub"]?.description == "dkimpy=pass testmsg=pass opendkim=pass")  // From: host.domain1.com, d=domain1.com
        #expect(verdicts["ed"]?.description == "dkimpy=pass testmsg=pass opendkim=pass")
        #expect(verdicts["both"]?.dkimpy == ["pass", "pass"] && verdicts["both"]?.testmsg == "pass" && verdicts["both"]?.opendkim == "pass")
        #expect(verdicts["rsa-changed"]?.description == "dkimpy=fail testmsg=fail opendkim=fail")
        #expect(verdicts["ed-changed"]?.description == "dkimpy=fail testmsg=fail opendkim=fail")
        #expect(verdicts["unsigned"]?.dkimpy == ["none"])
        print("verdicts: \(verdicts.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; "))")

        // And our own verifier agrees, through the same records.
        let records = keys.records
        let verifier = DKIMVerifier { name in records[name].map { [$0] } ?? [] }
        for (name, kinds) in ["rsa": [DKIMResult.Kind.pass], "ed": [.pass], "both": [.pass, .pass], "rsa-changed": [.fail], "ed-changed": [.fail]] {
            #expect(await verifier.verify(captured[name] ?? []).map(\.kind) == kinds, "\(name)")
        }
    }

    @Test("a message of a signed domain that cannot be signed (more header fields than verifiers read) is returned, never sent unsigned")
    func unsignable() async throws {
        let dir = try TestSupport.temporaryDirectory("dkimu")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let key = try await GeneratedKey(domain: "domain1.com", selector: "ed", algorithm: "ed25519", directory: dir)
        let sink = try await SMTPSink()
        let dns = try await TestDNSServer(records: [])
        var settings = Feed.Settings()
        settings.smartHost = "[127.0.0.1]:\(sink.port)"
        settings.signer = try FeedSigner(keys: [FeedSigner.KeySpec(domain: "domain1.com", selector: "ed", file: key.path)])
        let feed = Feed(settings: settings, resolver: DNSResolver(servers: [DNSResolver.Server(dns.server)!], timeout: .seconds(5)),
                        logger: Logger(label: "dkim-interop"))
        let body = String(repeating: "X-Many: 1\r\n", count: DKIMMessage.maxFields) + "From: <you@domain1.com>\r\n\r\nbody\r\n"
        let results = await feed.deliver(Feed.Message(id: "huge", sender: "you@domain1.com", recipients: [EnvelopeRecipient(address: "a@far.test")],
                                                      body: ByteBuffer(string: body)))
        #expect(results.map(\.code) == [554] && results.first?.enhanced == "5.6.0", "\(results)")
        #expect(sink.messages.isEmpty)
    }

    @Test("through the stack: From: you@host.domain1.com masqueraded by the queue to you@domain1.com, then signed twice by smtpfeed-out; both verifiers pass")
    func stackAfterMasquerading() async throws {
        let dir = try TestSupport.temporaryDirectory("dkims")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let rsa = try await GeneratedKey(domain: "domain1.com", selector: "rsa", algorithm: "rsa", directory: dir)
        let ed = try await GeneratedKey(domain: "domain1.com", selector: "ed", algorithm: "ed25519", directory: dir)
        let sink = try await SMTPSink()
        let stack = try await StackHarness(services: ["drac-registry", "relay-policy", "smtpfeed-out", "queue", "smtp-in"],
                                           extra: ["outbound.smart_host=[127.0.0.1]:\(sink.port)", "host.domain=domain1.com",
                                                   "dkim.keys=domain1.com=rsa:\(rsa.path),domain1.com=ed:\(ed.path)"])
        let body = Self.message(from: "you@host.domain1.com", id: "stack@test")
            .replacingOccurrences(of: String(repeating: "0123456789", count: 250), with: String(repeating: "0123456789", count: 90))
        let send = """
            import smtplib, sys
            s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
            s.sendmail("you@host.domain1.com", ["someone@far.test"], sys.stdin.buffer.read(), mail_options=["BODY=8BITMIME"])
            s.quit()
            """
        let sent = try await TestSupport.runAsync(["/usr/bin/python3", "-c", send, "\(stack.smtpPort)"], input: Array(body.utf8))
        #expect(sent.status == 0, "\(sent.stderr)")
        try await TestSupport.eventually { sink.messages.contains { $0.contains("<stack@test>") } }
        let message = IndependentVerifiers.captured(sink.messages.first { $0.contains("<stack@test>") } ?? "")
        let text = String(decoding: message, as: UTF8.self)
        #expect(text.contains("From: Sébastien <you@domain1.com>"), "masqueraded")
        #expect(text.contains("Grüße aus Köln"))
        #expect(text.components(separatedBy: "DKIM-Signature:").count == 3)
        #expect(stack.log("smtpfeed-out").contains("dkim signed, d=domain1.com s=rsa a=rsa-sha256; d=domain1.com s=ed a=ed25519-sha256"))
        let records = ["rsa._domainkey.domain1.com": rsa.record, "ed._domainkey.domain1.com": ed.record]
        let verdicts = try await IndependentVerifiers.verify(["stack": message], records: records)
        #expect(verdicts["stack"]?.description == "dkimpy=pass,pass testmsg=pass opendkim=pass")
        let verifier = DKIMVerifier { name in records[name].map { [$0] } ?? [] }
        #expect(await verifier.verify(message).map(\.kind) == [.pass, .pass])
        _ = try await stack.stopAll()
    }

    @Test("messages signed by dkimpy (dkimsign) pass our DKIMVerifier; OpenDKIM's (opendkim-testmsg signs rsa-sha1 only) are refused as policy")
    func theirSignatures() async throws {
        let dir = try TestSupport.temporaryDirectory("dkimx")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keys = try await Self.keys(in: dir)
        let message = Array(Self.message(from: "you@domain1.com", id: "theirs@test").utf8)
        // dkimpy wants an Ed25519 key as its base64 seed: the last 32 octets of our PKCS#8.
        let pem = try String(contentsOfFile: keys.ed.path, encoding: .utf8)
        let der = Data(base64Encoded: pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()) ?? Data()
        try (der.suffix(32).base64EncodedString() + "\n").write(toFile: dir + "/ed.seed", atomically: true, encoding: .utf8)
        var signed: [String: [UInt8]] = [:]
        for (name, argv) in [
            "dkimpy-rsa-relaxed": ["--hcanon", "relaxed", "--bcanon", "relaxed", "rsa", "domain1.com", keys.rsa.path],
            "dkimpy-rsa-simple": ["--hcanon", "simple", "--bcanon", "simple", "rsa", "domain1.com", keys.rsa.path],
            "dkimpy-ed": ["--signalg", "ed25519-sha256", "--hcanon", "relaxed", "--bcanon", "relaxed", "ed", "domain2.com", dir + "/ed.seed"],
        ] {
            let run = try await TestSupport.runAsync(["/usr/bin/dkimsign"] + argv, input: message)
            #expect(run.status == 0, "\(name): \(run.stderr)")
            signed[name] = Array(run.stdout.utf8)
        }
        let opendkim = try await TestSupport.runAsync(["/usr/sbin/opendkim-testmsg", "-C", "-d", "domain1.com", "-s", "rsa", "-k", keys.rsa.path],
                                                      input: message)
        #expect(opendkim.status == 0, "opendkim-testmsg: \(opendkim.stderr)")
        signed["opendkim-rsa"] = Array(opendkim.stdout.utf8)
        let records = keys.records
        let verifier = DKIMVerifier { name in records[name].map { [$0] } ?? [] }
        for (name, octets) in signed {
            let results = await verifier.verify(octets)
            // opendkim-testmsg has no choice of algorithm and signs rsa-sha1, which RFC 8301
            // forbids: our verifier refuses it (policy); dkimpy checks that it is a valid signature.
            let expected: DKIMResult.Kind = name == "opendkim-rsa" ? .policy : .pass
            #expect(results.map(\.kind) == [expected], "\(name): \(results)")
        }
        #expect(signed["opendkim-rsa"].map { String(decoding: $0, as: UTF8.self).contains("a=rsa-sha1;") } == true)
        let verdicts = try await IndependentVerifiers.verify(["opendkim-rsa": signed["opendkim-rsa"] ?? []], records: records)
        #expect(verdicts["opendkim-rsa"]?.dkimpy == ["pass"], "\(verdicts)")
    }

    @Test("keygen: 0600, never overwrites, the record split into 255-octet strings; a readable key stops smtpfeed-out with file and reason")
    func keygenAndRefusals() async throws {
        let dir = try TestSupport.temporaryDirectory("dkimk")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try await TestSupport.runAsync([TestSupport.binary("mailstack"), "dkim", "keygen", "domain1.com", "big", "--bits", "4096",
                                                  "--directory", dir])
        #expect(run.status == 0)
        let mode = (try FileManager.default.attributesOfItem(atPath: dir + "/domain1.com.big.key")[.posixPermissions] as? Int) ?? 0
        #expect(mode == 0o600)
        let txt = run.stdout.split(separator: "\n").first { $0.hasPrefix("big._domainkey.domain1.com. IN TXT \"v=DKIM1; k=rsa; p=") } ?? ""
        let strings = txt.split(separator: "\"").enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
        #expect(strings.count == 3 && strings.allSatisfy { $0.utf8.count <= 255 }, "\(txt)")
        let again = try await TestSupport.runAsync([TestSupport.binary("mailstack"), "dkim", "keygen", "domain1.com", "big", "--directory", dir])
        #expect(again.status == 73 && again.stderr.contains("File exists"))
        let bad = try await TestSupport.runAsync([TestSupport.binary("mailstack"), "dkim", "keygen", "../etc", "x", "--directory", dir])
        #expect(bad.status == 64)

        chmod(dir + "/domain1.com.big.key", 0o644)
        let config = dir + "/mailstack.yaml"
        try "log:\n  level: info\ndkim:\n  keys:\n    - domain1.com=big:\(dir)/domain1.com.big.key\n".write(toFile: config, atomically: true, encoding: .utf8)
        let feed = try await TestSupport.runAsync([TestSupport.binary("smtpfeed-out"), "--config", config, "--set", "ipc.directory=\(dir)"])
        #expect(feed.status == 78)
        #expect(feed.stderr.contains("\(config):4: key \(dir)/domain1.com.big.key: permissions 644 are too open"), "\(feed.stderr)")
        let syntax = try await TestSupport.runAsync([TestSupport.binary("mailstack"), "check-config", config, "--set", "dkim.keys=domain1.com:nokey"])
        #expect(syntax.status == 78 && syntax.stderr.contains("is not domain=selector:/absolute/path/to/key"), "\(syntax.stderr)")
    }
}
