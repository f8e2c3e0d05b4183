import Foundation
import IPC
import IPCTransport
import Logging
import Testing
import TestSupport

/// The relay-policy binary with the seed's maps (built by `mailstack makemap`), a dnsmasq on
/// loopback for PTR and forward lookups, and the drac-registry binary.
@Suite("relay-policy daemon", .serialized)
struct RelayPolicyDaemonTests {
    static let dnsRecords = [
        "host-record=good.test,127.0.0.2", "ptr-record=4.0.0.127.in-addr.arpa,forged.test", "host-record=forged.test,127.0.0.99",
        "host-record=spammer.test,69.6.66.33",
    ]

    func withStack(_ settings: [String] = [], _ body: @Sendable (IPCClient, String) async throws -> Void) async throws {
        let dir = try TestSupport.temporaryDirectory("policy")
        let dns = try await TestDNSServer(records: Self.dnsRecords)
        defer { withExtendedLifetime(dns) {} }
        for name in ["access", "virtusertable", "mailertable"] {
            let source = try Data(contentsOf: Bundle.module.url(forResource: "Fixtures/\(name).txt", withExtension: nil)!)
            let built = try await TestSupport.runAsync([TestSupport.binary("mailstack"), "makemap", "hash", "\(dir)/\(name)"], input: Array(source))
            #expect(built.status == 0)
        }
        try "domain1.com\ndomain2.tv\n".write(toFile: dir + "/virtuser-domains", atomically: true, encoding: .utf8)
        try "you:{PLAIN}x\nuser4:{PLAIN}x\n".write(toFile: dir + "/passwd", atomically: true, encoding: .utf8)
        let common = ["--set", "ipc.directory=\(dir)", "--set", "drac.database=\(dir)/drac.db"]
        let drac = try DaemonProcess("drac-registry", arguments: common, stderrPath: dir + "/drac.log")
        let policy = try DaemonProcess("relay-policy", arguments: common + [
            "--set", "maps.access=\(dir)/access.db", "--set", "maps.virtusertable=\(dir)/virtusertable.db",
            "--set", "maps.mailertable=\(dir)/mailertable.db", "--set", "maps.virtuser_domains=\(dir)/virtuser-domains",
            "--set", "pop3.passwd_file=\(dir)/passwd", "--set", "dns.servers=\(dns.server)", "--set", "dns.timeout=2s",
        ] + settings, stderrPath: dir + "/policy.log")
        try await TestSupport.waitForFile(dir + "/relay-policy.sock")
        try await TestSupport.waitForFile(dir + "/drac-registry.sock")
        let client = IPCClient(configuration: .init(path: dir + "/relay-policy.sock", service: "relay-policy", clientName: "smtp-in"),
                               logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await body(client, dir)
        }
        #expect(try await policy.stop() == 0)
        #expect(try await drac.stop() == 0)
    }

    static func connect(_ client: IPCClient, _ address: String) async throws -> Mailstack_Ipc_PolicyVerdict {
        guard case let .policyVerdict(v) = try await client.request(.policyConnect(.with { $0.address = address })) else {
            throw POSIXError(.EPROTO)
        }
        return v
    }

    static func rcpt(_ client: IPCClient, _ from: Mailstack_Ipc_PolicyClient, _ to: String) async throws -> Mailstack_Ipc_PolicyVerdict {
        guard case let .policyVerdict(v) = try await client.request(.policyRcpt(.with { $0.client = from; $0.recipient = to })) else {
            throw POSIXError(.EPROTO)
        }
        return v
    }

    static func text(_ v: Mailstack_Ipc_PolicyVerdict) -> String {
        v.action == .reject ? "\(v.reply.code) \(v.reply.enhanced) \(v.reply.text)" : "\(v.action)"
    }

    @Test("connect: the seed's three 450s, the REJECT network's 550 with sendmail's log line, a good client")
    func connect() async throws {
        try await withStack { client, dir in
            #expect(Self.text(try await Self.connect(client, "127.0.0.2")) == "accept")
            #expect(Self.text(try await Self.connect(client, "127.0.0.3")) == "450 4.7.1 Access denied. IP name lookup failed [127.0.0.3]")
            #expect(Self.text(try await Self.connect(client, "127.0.0.4")) == "450 4.7.1 Access denied. IP name possibly forged forged.test")
            let spammer = try await Self.connect(client, "69.6.66.33")
            #expect(Self.text(spammer) == "550 5.7.1 Access denied")
            #expect(spammer.log == "ruleset=check_relay, arg1=spammer.test, arg2=69.6.66.33, relay=spammer.test [69.6.66.33], reject=550 5.7.1 Access denied")
            #expect(Self.text(try await Self.connect(client, "127.0.0.1")) == "relay")
            let log = try String(contentsOfFile: dir + "/policy.log", encoding: .utf8)
            #expect(log.contains("ruleset=check_relay, arg1=spammer.test, arg2=69.6.66.33"))
        }
    }

    @Test("rcpt: local users, the catch-all, relaying denied until a drac add; resolve: targets with their routes")
    func rcptAndRoute() async throws {
        try await withStack { client, dir in
            let good = try await Self.connect(client, "127.0.0.2").client
            #expect(Self.text(try await Self.rcpt(client, good, "you@domain1.com")) == "accept")
            #expect(Self.text(try await Self.rcpt(client, good, "nobody@domain1.com")) == "550 5.5.1 <nobody@domain1.com>... Unknown user")
            #expect(Self.text(try await Self.rcpt(client, good, "user3@domain1.com")) == "accept")
            #expect(Self.text(try await Self.rcpt(client, good, "friend@example.net")) == "550 5.7.1 <friend@example.net>... Relaying denied")
            let added = try await TestSupport.runAsync([TestSupport.binary("mailstack"), "drac", "add", "127.0.0.2", "--set", "ipc.directory=\(dir)"])
            #expect(added.status == 0)
            #expect(Self.text(try await Self.rcpt(client, good, "friend@example.net")) == "relay")
            // The queue's question: the seed's mailertable route comes with the resolution (the
            // address is never contacted: nothing is delivered here).
            guard case let .policyResolution(resolution) = try await client.request(.policyResolve(.with { $0.recipient = "a@domain.ne.jp" })) else {
                Issue.record("no resolution"); return
            }
            #expect(resolution.deliveries.count == 1)
            let route = resolution.deliveries.first?.route
            #expect(resolution.deliveries.first?.kind == .remote && route?.kind == .smtp && route?.host == "192.168.0.100" && route?.mxLookup == false)
            guard case let .policyResolution(local) = try await client.request(.policyResolve(.with { $0.recipient = "you@domain1.com" })) else {
                Issue.record("no resolution"); return
            }
            #expect(local.deliveries.map(\.kind) == [.mailbox] && local.deliveries.first?.mailbox == "you")
            guard case let .policyVerdict(mail) = try await client.request(.policyMail(.with { $0.client = good; $0.sender = "a@b.test"; $0.size = 6_000_000 })) else {
                Issue.record("no verdict"); return
            }
            #expect(Self.text(mail) == "552 5.3.4 Message size exceeds fixed maximum message size")
        }
    }

    static func mail(_ client: IPCClient, _ sender: String) async throws -> Mailstack_Ipc_PolicyVerdict {
        guard case let .policyVerdict(v) = try await client.request(.policyMail(.with { $0.sender = sender })) else {
            throw POSIXError(.EPROTO)
        }
        return v
    }

    @Test("reuse: accepted clients, MAIL and local recipients for the maps' check interval, a client no longer than its DNS answers' TTL; refusals to connect or relay and drac's permission never")
    func reuse() async throws {
        // dnsmasq answers with a TTL of 60 s; the maps are checked every 300 s.
        try await withStack(["--set", "maps.check_interval=300s"]) { client, dir in
            let loopback = try await Self.connect(client, "127.0.0.1")
            #expect(loopback.reuseMs == 300_000 && loopback.mapsEpoch != 0 && loopback.mapsGeneration > 0)
            let good = try await Self.connect(client, "127.0.0.2")
            #expect(Self.text(good) == "accept" && (50_000...60_000).contains(good.reuseMs), "DNS TTL bounds it: \(good.reuseMs)")
            for refused in ["127.0.0.3", "127.0.0.4", "69.6.66.33"] {
                let verdict = try await Self.connect(client, refused)
                #expect(verdict.action == .reject && verdict.reuseMs == 0 && verdict.mapsEpoch == loopback.mapsEpoch)
            }
            #expect(try await Self.mail(client, "a@b.test").reuseMs == 300_000)
            // RCPT: a local recipient's answer, known or not, stands on the maps, aliases and
            // users; a refusal to relay (its text depends on the client's name) and drac's
            // permission (a POP login away) do not.
            let rcpt = try await Self.rcpt(client, good.client, "you@domain1.com")
            #expect(rcpt.action == .accept && rcpt.reuseMs == 300_000 && rcpt.mapsEpoch == loopback.mapsEpoch)
            #expect(try await Self.rcpt(client, good.client, "nobody@domain1.com").reuseMs == 300_000)
            #expect(try await Self.rcpt(client, good.client, "friend@example.net").reuseMs == 0)
            let added = try await TestSupport.runAsync([TestSupport.binary("mailstack"), "drac", "add", "127.0.0.2", "--set", "ipc.directory=\(dir)"])
            #expect(added.status == 0)
            let relayed = try await Self.rcpt(client, good.client, "friend@example.net")
            #expect(relayed.action == .relay && relayed.reuseMs == 0)
        }
    }

    @Test("reuse: a rebuilt access map raises the generation every verdict carries")
    func generation() async throws {
        try await withStack(["--set", "maps.check_interval=0s"]) { client, dir in
            let before = try await Self.mail(client, "evil@b.test")
            #expect(Self.text(before) == "accept" && before.reuseMs == 0)
            let source = try String(contentsOf: Bundle.module.url(forResource: "Fixtures/access.txt", withExtension: nil)!, encoding: .utf8)
            let built = try await TestSupport.runAsync([TestSupport.binary("mailstack"), "makemap", "hash", "\(dir)/access"],
                                                       input: Array((source + "\nFrom:evil@b.test\tREJECT\n").utf8))
            #expect(built.status == 0)
            let after = try await Self.mail(client, "evil@b.test")
            #expect(Self.text(after) == "550 5.7.1 <evil@b.test>... Access denied")
            #expect(after.mapsEpoch == before.mapsEpoch && after.mapsGeneration > before.mapsGeneration)
            #expect(try await Self.connect(client, "127.0.0.1").mapsGeneration == after.mapsGeneration)
        }
    }
}
