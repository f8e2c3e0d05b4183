import DNS
import Foundation
import RelayPolicyService
import Testing

/// check_relay / check_mail / check_rcpt on the seed's maps: one row per case, asserting the
/// exact reply.
@Suite("relay-policy decisions on the seed's configuration")
struct DecisionTableTests {
    static let dracClients: Set<String> = ["198.51.100.20"]
    static let mailboxes: Set<String> = ["you", "user2", "fml", "root", "postmaster", "info", "info-admin", "user4", "webmaster", "info-domain2.tv"]

    static func policy(ptrCheck: Bool = true, allow: [String] = []) -> RelayPolicy {
        var settings = RelayPolicy.Settings()
        settings.ptrCheck = ptrCheck
        settings.ptrCheckAllow = allow
        settings.localDomains = ["domain1.com", "domain2.tv", "host.domain.com"]
        return RelayPolicy(settings: settings, access: SeedMapsTests.maps.access, virtusers: SeedMapsTests.maps.virtusers,
                           localUserExists: { mailboxes.contains($0) }, isDracAuthorized: { dracClients.contains($0) })
    }

    @Test("connect", arguments: [
        ("192.0.2.7", ClientResolve.ok(name: "mx.example.test"), "accept"),
        ("127.0.0.1", .fail, "accept relay"),
        ("192.0.2.8", .temp, "450 4.7.1 Access denied. Cannot resolve PTR record for 192.0.2.8"),
        ("192.0.2.9", .fail, "450 4.7.1 Access denied. IP name lookup failed [192.0.2.9]"),
        ("192.0.2.10", .forged(name: "liar.example.test"), "450 4.7.1 Access denied. IP name possibly forged liar.example.test"),
        ("69.6.66.33", .ok(name: "spammer.example.test"), "550 5.7.1 Access denied"),
        ("82.166.100.1", .ok(name: "x.example.test"), "550 5.7.1 Access denied"),
        ("2001:db8::25", .ok(name: "v6.example.test"), "accept"),
    ] as [(String, ClientResolve, String)])
    func connect(address: String, resolve: ClientResolve, expected: String) throws {
        let (decision, _) = try Self.policy().connect(address: address, resolve: resolve)
        #expect(Self.text(decision) == expected)
    }

    @Test("the PTR check can be off, or skipped for listed clients")
    func ptrCheckOptions() throws {
        #expect(Self.text(try Self.policy(ptrCheck: false).connect(address: "192.0.2.9", resolve: .fail).0) == "accept")
        #expect(Self.text(try Self.policy(allow: ["192.0.2."]).connect(address: "192.0.2.9", resolve: .temp).0) == "accept")
        // A REJECT network still gets its 550 when its name did resolve.
        #expect(Self.text(try Self.policy(ptrCheck: false).connect(address: "4.29.156.1", resolve: .fail).0) == "550 5.7.1 Access denied")
    }

    @Test("the reject is logged in sendmail's form")
    func logLine() throws {
        let (decision, client) = try Self.policy().connect(address: "69.6.66.33", resolve: .ok(name: "bad.example.test"))
        #expect(RelayPolicy.checkRelayLogLine(client: client, reply: decision.reply!)
            == "ruleset=check_relay, arg1=bad.example.test, arg2=69.6.66.33, relay=bad.example.test [69.6.66.33], reject=550 5.7.1 Access denied")
    }

    @Test("rcpt", arguments: [
        // recipient, client address, expected
        ("you@domain1.com", "192.0.2.7", "accept"),
        ("YOU@DOMAIN1.COM.", "192.0.2.7", "accept"),
        ("nobody@domain1.com", "192.0.2.7", "550 5.5.1 <nobody@domain1.com>... Unknown user"),
        ("user3@domain1.com", "192.0.2.7", "accept"),
        ("user4@domain2.tv", "192.0.2.7", "accept"),
        ("someone@domain2.tv", "192.0.2.7", "550 5.5.1 <someone@domain2.tv>... Unknown user"),
        ("ghost@host.domain.com", "192.0.2.7", "550 5.1.1 <ghost@host.domain.com>... User unknown"),
        ("friend@example.net", "192.0.2.7", "550 5.7.1 <friend@example.net>... Relaying denied"),
        ("friend@example.net", "127.0.0.1", "accept relay"),
        ("friend@example.net", "198.51.100.20", "accept relay"),
        ("friend%example.net@domain1.com", "192.0.2.7", "550 5.7.1 <friend%example.net@domain1.com>... Relaying denied"),
        ("@domain1.com:friend@example.net", "192.0.2.7", "550 5.7.1 <@domain1.com:friend@example.net>... Relaying denied"),
        ("example.net!friend@domain1.com", "192.0.2.7", "550 5.7.1 <example.net!friend@domain1.com>... Relaying denied"),
        ("\"friend@example.net\"@domain1.com", "192.0.2.7", "550 5.7.1 <\"friend@example.net\"@domain1.com>... Relaying denied"),
        ("friend@[203.0.113.9]", "192.0.2.7", "550 5.7.1 <friend@[203.0.113.9]>... Relaying denied"),
        // The %-hack is never routing, for drac clients either.
        ("friend%example.net@domain1.com", "198.51.100.20", "550 5.7.1 <friend%example.net@domain1.com>... Relaying denied"),
    ] as [(String, String, String)])
    func rcpt(recipient: String, address: String, expected: String) async throws {
        let client = RelayPolicy.Client(address: address, resolve: .ok(name: "client.example.test"))
        #expect(Self.text(try await Self.policy().rcpt(recipient, client: client)) == expected)
    }

    @Test("relaying denied names the resolve problem as sendmail did")
    func relayingVariants() async throws {
        let failed = RelayPolicy.Client(address: "192.0.2.9", resolve: .fail)
        #expect(Self.text(try await Self.policy().rcpt("a@example.net", client: failed))
            == "550 5.7.1 <a@example.net>... Relaying denied. IP name lookup failed [192.0.2.9]")
        let relay = RelayPolicy.Client(address: "192.0.2.9", resolve: .fail, relayByAccess: true)
        #expect(Self.text(try await Self.policy().rcpt("a@example.net", client: relay)) == "accept relay")
    }

    @Test("mail", arguments: [
        ("someone@example.net", "accept"),
        ("", "accept"),
        ("a%b@example.net", "553 5.1.7 <a%b@example.net>... Sender address invalid"),
        ("@relay.example:a@example.net", "553 5.1.7 <@relay.example:a@example.net>... Sender address invalid"),
    ])
    func mail(sender: String, expected: String) throws {
        #expect(Self.text(try Self.policy().mail(sender: sender)) == expected)
    }

    static func text(_ decision: PolicyDecision) -> String {
        switch decision {
        case let .accept(relay): return relay ? "accept relay" : "accept"
        case .discard: return "discard"
        case let .reject(reply): return reply.description
        }
    }
}
