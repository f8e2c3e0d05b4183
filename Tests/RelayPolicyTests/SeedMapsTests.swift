import Foundation
import MailstackAliases
import MailstackMaps
import RelayPolicyService
import SMTP
import Testing
import TestSupport

/// The seed's own access, virtusertable and mailertable, built into Berkeley DB files with our
/// makemap, read back through the lookup orders sendmail uses. One row per case.
@Suite("relay-policy maps: sendmail's lookup orders on the seed's maps")
struct SeedMapsTests {
    static let maps: (access: AccessMap, virtusers: VirtualUserTable, mailer: MailerTable) = {
        let dir = try! TestSupport.temporaryDirectory("seedmaps")
        func build(_ name: String) -> SendmailMap {
            let url = Bundle.module.url(forResource: "Fixtures/\(name).txt", withExtension: nil)!
            let entries = try! MakeMap.parse(Array(try! Data(contentsOf: url)), file: name, options: .init())
            try! MakeMap.write(entries, to: dir + "/" + name, kind: .hash, options: .init())
            return SendmailMap(path: dir + "/" + name)
        }
        let access = build("access"), virtusers = build("virtusertable"), mailers = build("mailertable")
        return (AccessMap(lookup: { try access.lookup($0) }), VirtualUserTable(lookup: { try virtusers.lookup($0) }),
                MailerTable(lookup: { try mailers.lookup($0) }))
    }()

    @Test("connect: access entries by address and name, in sendmail's order", arguments: [
        // (client name, address, expected key, expected action)
        (nil, "127.0.0.1", "127.0.0.1", AccessAction.relay),
        (nil, "69.6.66.33", "69.6.66", .reject),
        ("host.example.test", "4.29.156.200", "4.29.156", .reject),
        (nil, "24.60.1.2", "24.60", .reject),
        (nil, "82.166.235.9", "82.166.235", .reject),
    ] as [(String?, String, String, AccessAction)])
    func connectRejects(name: String?, address: String, key: String, action: AccessAction) throws {
        let match = try Self.maps.access.connect(name: name, address: address)
        #expect(match == AccessMap.Match(key: key, action: action))
    }

    @Test("connect: addresses outside every entry get no decision", arguments: ["192.0.2.7", "82.166.236.1", "24.6.1.1", "2001:db8::1"])
    func connectNoDecision(address: String) throws {
        #expect(try Self.maps.access.connect(name: "client.example.test", address: address) == nil)
    }

    @Test("the key order is sendmail's: name label by label, then the address octet by octet, tagged first")
    func keyOrder() {
        #expect(AccessMap.connectKeys(name: "a.b.c", address: "69.6.66.33") == [
            ["Connect:a.b.c", "a.b.c", "Connect:b.c", "b.c", "Connect:c", "c"],
            ["Connect:69.6.66.33", "69.6.66.33", "Connect:69.6.66", "69.6.66", "Connect:69.6", "69.6", "Connect:69", "69"],
        ])
        #expect(AccessMap.connectKeys(name: "[192.0.2.1]", address: "192.0.2.1").count == 1, "an unresolved name is not looked up")
        #expect(AccessMap.addressKeys("2001:db8::1", tag: nil) == ["IPv6:2001:db8::1", "IPv6:2001:db8", "IPv6:2001"])
    }

    @Test("tagged entries win over bare ones, SKIP stops a part of the search, ERROR replies parse")
    func semantics() throws {
        let entries: [String: String] = [
            "connect:spam.example": "ERROR:5.7.1:550 Go away", "spam.example": "OK", "10.1": "ERROR:451 Try later",
            "skip.example": "SKIP", "example": "REJECT", "10.2.3": "DISCARD", "to:relay.example": "RELAY",
        ]
        let access = AccessMap(lookup: { entries[$0.lowercased()] })
        #expect(try access.connect(name: "mx.spam.example", address: "192.0.2.1")?.action
            == .error(code: 550, enhanced: "5.7.1", text: "Go away"))
        #expect(try access.connect(name: nil, address: "10.1.2.3")?.action == .error(code: 451, enhanced: nil, text: "Try later"))
        #expect(try access.connect(name: "skip.example", address: "10.2.3.4")?.action == .discard, "SKIP ends the name part only")
        #expect(try access.connect(name: "other.example", address: "192.0.2.1")?.action == .reject)
        #expect(try access.decide([AccessMap.domainKeys("relay.example", tag: .to)])?.action == .relay)
        #expect(AccessAction("ERROR:\"550 Quoted text\"") == .error(code: 550, enhanced: nil, text: "Quoted text"))
        #expect(AccessAction("550 5.7.1 Bare") == .error(code: 550, enhanced: nil, text: "5.7.1 Bare"))
        #expect(AccessAction("FROBNICATE") == nil)
    }

    @Test("virtusertable: the seed's users, forwards and catch-all errors", arguments: [
        ("you", "domain1.com", "you@domain1.com", VirtualUserTable.Result.local("you")),
        ("YOU", "Domain1.COM", "YOU@domain1.com", .local("you")), // the map folds the case of keys
        ("user3", "domain1.com", "user3@domain1.com", .forward("user3@docomo.ne.jp")),
        ("nobody", "domain1.com", "@domain1.com", .error(code: 550, enhanced: "5.5.1", text: "Unknown user")),
        ("user5", "domain2.tv", "user5@domain2.tv", .forward("user5@pdx.ne.jp")),
        ("info", "domain2.tv", "info@domain2.tv", .local("info-domain2.tv")),
        ("someone", "domain2.tv", "@domain2.tv", .error(code: 550, enhanced: "5.5.1", text: "Unknown user")),
        ("you+lists", "domain1.com", "you@domain1.com", .local("you")),
    ] as [(String, String, String, VirtualUserTable.Result)])
    func virtusers(user: String, domain: String, key: String, result: VirtualUserTable.Result) throws {
        #expect(try Self.maps.virtusers.resolve(user: user, domain: domain) == VirtualUserTable.Match(key: key, result: result))
    }

    @Test("virtusertable: no entry for a domain it does not list")
    func virtusersOtherDomain() throws {
        #expect(try Self.maps.virtusers.resolve(user: "you", domain: "example.test") == nil)
    }

    @Test("virtusertable: +detail forms and %1 %2 %3")
    func detail() throws {
        let entries = [
            "a+*@d.test": "a-detail-%2", "b++@d.test": "b-plain", "b@d.test": "b", "@d.test": "%1%3@elsewhere.test",
            "c+x@d.test": "error:nouser No such list",
        ]
        let table = VirtualUserTable(lookup: { entries[$0] })
        #expect(try table.resolve(user: "a+news", domain: "d.test")?.result == .local("a-detail-news"))
        #expect(try table.resolve(user: "b+", domain: "d.test")?.result == .local("b-plain"))
        #expect(try table.resolve(user: "b+z", domain: "d.test")?.result == .local("b"))
        #expect(try table.resolve(user: "q+z", domain: "d.test")?.result == .forward("q+z@elsewhere.test"))
        #expect(try table.resolve(user: "c+x", domain: "d.test")?.result == .error(code: 550, enhanced: "5.1.1", text: "No such list"))
    }

    @Test("mailertable: the seed's static route, parent domains, and the route forms")
    func mailertable() throws {
        #expect(try Self.maps.mailer.route("domain.ne.jp")
            == MailerTable.Match(key: "domain.ne.jp", route: .smtp(host: "192.168.0.100", mxLookup: false, port: nil)))
        #expect(try Self.maps.mailer.route("other.ne.jp") == nil)
        #expect(MailerTable.keys(for: "a.b.example.") == ["a.b.example", ".b.example", ".example", "."])
        let entries = [".example": "smtp:[127.0.0.1]:2526", "mx.test": "esmtp:relay.test", ".": "error:5.7.1:550 No route",
                       "local.test": "local:postmaster", "bad.test": "smtp:[127.0.0.1]x"]
        let table = MailerTable(lookup: { entries[$0] })
        #expect(try table.route("a.b.example")?.route == .smtp(host: "127.0.0.1", mxLookup: false, port: 2526))
        #expect(try table.route("mx.test")?.route == .smtp(host: "relay.test", mxLookup: true, port: nil))
        #expect(try table.route("local.test")?.route == .local(user: "postmaster"))
        #expect(try table.route("anything.else")?.route == .error(code: 550, enhanced: "5.7.1", text: "No route"))
        #expect(throws: MailerTable.Failure.badRoute(key: "bad.test", value: "smtp:[127.0.0.1]x")) { try table.route("bad.test") }
        // An empty domain (a route question for "" or ".") crashed relay-policy (found by fuzzing).
        #expect(MailerTable.keys(for: "") == ["", "."])
        #expect(MailerTable.keys(for: ".") == ["", "."])
        #expect(try table.route("")?.route == .error(code: 550, enhanced: "5.7.1", text: "No route"))
    }
}

/// The queue's question at delivery: where each recipient of the seed's virtusertable goes.
@Suite("relay-policy: recipient resolution for the queue")
struct RecipientResolutionTests {
    static let policy: RelayPolicy = {
        var settings = RelayPolicy.Settings()
        settings.localDomains = ["domain1.com", "domain2.tv", "host.domain.com"]
        return RelayPolicy(settings: settings, access: SeedMapsTests.maps.access, virtusers: SeedMapsTests.maps.virtusers,
                           localUserExists: { ["you", "user2", "user4", "info-domain2.tv", "postmaster"].contains($0) },
                           isDracAuthorized: { _ in false })
    }()

    static func one(_ kind: MailTarget.Kind, key: String?) -> RecipientResolution { RecipientResolution([MailTarget(kind)], key: key) }

    @Test("virtusertable chains, forwards, errors and plain local users", arguments: [
        ("you@domain1.com", one(.mailbox("you"), key: "you@domain1.com")),
        ("user3@domain1.com", one(.remote(address: "user3@docomo.ne.jp", route: .mx), key: "user3@domain1.com")),
        ("user5@domain2.tv", one(.remote(address: "user5@pdx.ne.jp", route: .mx), key: "user5@domain2.tv")),
        ("info@domain2.tv", one(.mailbox("info-domain2.tv"), key: "info@domain2.tv")),
        ("friend@example.net", one(.remote(address: "friend@example.net", route: .mx), key: nil)),
        ("postmaster@host.domain.com", one(.mailbox("postmaster"), key: nil)),
        ("you+list@host.domain.com", one(.mailbox("you"), key: nil)),
    ])
    func resolve(recipient: String, expected: RecipientResolution) throws {
        #expect(try Self.policy.resolve(recipient) == expected)
    }

    /// The one error target of a resolution, or nil.
    static func error(_ resolution: RecipientResolution) -> SMTPReply? {
        guard resolution.targets.count == 1, case let .error(reply) = resolution.targets[0].kind else { return nil }
        return reply
    }

    @Test("the catch-all's error and a missing mailbox are permanent failures")
    func failures() throws {
        #expect(Self.error(try Self.policy.resolve("nobody@domain1.com")).map { "\($0)" } == "550 5.5.1 <nobody@domain1.com>... Unknown user")
        #expect(Self.error(try Self.policy.resolve("fml@domain1.com")).map { "\($0)" } == "550 5.1.1 <fml@domain1.com>... User unknown")
    }

    @Test("mailertable decides here, once: an smtp: route travels with the address, local: delivers here, error: fails")
    func mailertable() throws {
        var settings = RelayPolicy.Settings()
        settings.localDomains = ["domain1.com"]
        let routes = ["relay.test": "smtp:[127.0.0.1]:2525", ".mx.test": "smtp:mx.example.test", "here.test": "local:you",
                      "self.test": "local:", "gone.test": "error:5.1.2:Host gone"]
        let policy = RelayPolicy(settings: settings, access: AccessMap(lookup: { _ in nil }), virtusers: VirtualUserTable(lookup: { _ in nil }),
                                 mailers: MailerTable(lookup: { routes[$0] }), localUserExists: { ["you", "user2"].contains($0) },
                                 isDracAuthorized: { _ in false })
        #expect(try policy.resolve("a@relay.test").targets == [MailTarget(.remote(address: "a@relay.test", route: .smtp(host: "127.0.0.1", mxLookup: false, port: 2525)))])
        #expect(try policy.resolve("a@sub.mx.test").targets == [MailTarget(.remote(address: "a@sub.mx.test", route: .smtp(host: "mx.example.test", mxLookup: true, port: nil)))])
        #expect(try policy.resolve("anyone@here.test").targets == [MailTarget(.mailbox("you"))])
        #expect(try policy.resolve("user2@self.test").targets == [MailTarget(.mailbox("user2"))])
        #expect(Self.error(try policy.resolve("nobody@self.test"))?.enhanced == "5.1.1")
        #expect(Self.error(try policy.resolve("a@gone.test")).map { "\($0)" } == "550 5.1.2 Host gone")
        #expect(try policy.resolve("a@elsewhere.test").targets == [MailTarget(.remote(address: "a@elsewhere.test", route: .mx))])
    }

    @Test("a loop in the table is an error after 10 hops, not a hang")
    func loop() throws {
        var settings = RelayPolicy.Settings()
        settings.localDomains = ["a.test", "b.test"]
        let table: [String: String] = ["x@a.test": "x@b.test", "x@b.test": "x@a.test"]
        let policy = RelayPolicy(settings: settings, access: AccessMap(lookup: { _ in nil }),
                                 virtusers: VirtualUserTable(lookup: { table[$0] }),
                                 localUserExists: { _ in true }, isDracAuthorized: { _ in false })
        let reply = try #require(Self.error(try policy.resolve("x@a.test")))
        #expect(reply.code == 554 && reply.enhanced == "5.4.6")
    }
}

/// relay-policy's aliases: the seed's administrative names and lists, resolved once into every
/// target with its route, as the queue receives them.
@Suite("relay-policy: aliases in recipient resolution and RCPT")
struct AliasResolutionTests {
    static let aliasFile: [String: String] = [
        "postmaster": "root", "mailer-daemon": "postmaster", "abuse": "root", "webmaster": "root", "root": "you",
        "info": "you, user2, far@remote.test, info-archive@host.domain.com", "owner-info": "info-admin", "info-admin": "you",
        "info-request": "info-admin", "info-archive": "/var/mail/archive/info",
        "fml": "\"|/usr/bin/mlmmj-receive -L /var/spool/mlmmj/info\"", "gone": "error:5.1.6:This person has left",
        "loop1": "loop2", "loop2": "loop1", "forward": "user3@domain1.com",
    ]

    static let policy: RelayPolicy = {
        var settings = RelayPolicy.Settings()
        settings.localDomains = ["domain1.com", "domain2.tv", "host.domain.com"]
        let mailboxes: Set = ["you", "user2", "user4"]
        let aliases = AliasExpander(domain: "host.domain.com",
                                    lookup: { name in try aliasFile[name].map { try AliasTargetParser.parseList($0) } },
                                    isMailbox: { mailboxes.contains($0) })
        return RelayPolicy(settings: settings, access: SeedMapsTests.maps.access, virtusers: SeedMapsTests.maps.virtusers,
                           aliases: aliases, localUserExists: { mailboxes.contains($0) }, isDracAuthorized: { _ in false })
    }()

    func targets(_ recipient: String) throws -> [String] {
        try Self.policy.resolve(recipient).targets.map { target in
            let kind = switch target.kind {
            case let .mailbox(user): "mailbox \(user)"
            case let .remote(address, route): "remote \(address) \(route == .mx ? "mx" : "\(route)")"
            case let .program(command): "program \(command)"
            case let .file(path): "file \(path)"
            case let .error(reply): "error \(reply)"
            }
            return kind + (target.alias.isEmpty ? "" : " (\(target.alias))") + (target.sender.map { " from \($0)" } ?? "")
        }
    }

    @Test("the seed's virtusertable names reach the aliases: root, postmaster, webmaster, MAILER-DAEMON end in the administrator's mailbox")
    func administrative() throws {
        #expect(try targets("root@domain1.com") == ["mailbox you (root)"])
        #expect(try targets("postmaster@domain1.com") == ["mailbox you (root)"])
        #expect(try targets("webmaster@domain2.tv") == ["mailbox you (root)"])
        #expect(try targets("root@host.domain.com") == ["mailbox you (root)"])
        #expect(try targets("MAILER-DAEMON@host.domain.com") == ["mailbox you (root)"])
        #expect(try targets("abuse@host.domain.com") == ["mailbox you (root)"])
    }

    @Test("a list: members are mailboxes, remote addresses with their route, a local address resolved again; owner-info is the sender of all of them")
    func list() throws {
        #expect(try targets("info@host.domain.com") == [
            "mailbox you (info) from owner-info@host.domain.com",
            "mailbox user2 (info) from owner-info@host.domain.com",
            "remote far@remote.test mx (info) from owner-info@host.domain.com",
            "file /var/mail/archive/info (info-archive) from owner-info@host.domain.com",
        ])
        #expect(try targets("info-request@host.domain.com") == ["mailbox you (info-admin)"])
    }

    @Test("programs, errors, loops, forwards and unknown names", arguments: [
        ("fml@domain1.com", ["program /usr/bin/mlmmj-receive -L /var/spool/mlmmj/info (fml)"]),
        ("gone@host.domain.com", ["error 550 5.1.6 <gone@host.domain.com>... This person has left (gone)"]),
        ("forward@host.domain.com", ["remote user3@docomo.ne.jp mx (forward)"]),
        ("nobody@host.domain.com", ["error 550 5.1.1 <nobody@host.domain.com>... User unknown"]),
    ])
    func kinds(recipient: String, expected: [String]) throws {
        #expect(try targets(recipient) == expected)
    }

    @Test("a loop of aliases with no mailbox is a 554 5.4.6, not a hang")
    func loop() throws {
        let result = try targets("loop1@host.domain.com")
        #expect(result.count == 1 && result[0].hasPrefix("error 554 5.4.6"), "\(result)")
    }

    @Test("RCPT knows aliases: an alias is accepted, a name neither alias nor mailbox keeps its 550 5.1.1, the catch-all's error: stays")
    func rcpt() async throws {
        let client = RelayPolicy.Client(address: "127.0.0.2", resolve: .ok(name: "client.test"))
        #expect(try await Self.policy.rcpt("info@host.domain.com", client: client) == .accept(relay: false))
        #expect(try await Self.policy.rcpt("root@domain1.com", client: client) == .accept(relay: false))
        #expect(try await Self.policy.rcpt("MAILER-DAEMON@host.domain.com", client: client) == .accept(relay: false))
        #expect(try await Self.policy.rcpt("nobody@host.domain.com", client: client).reply?.enhanced == "5.1.1")
        #expect(try await Self.policy.rcpt("nobody@domain1.com", client: client).reply.map { "\($0)" } == "550 5.5.1 <nobody@domain1.com>... Unknown user")
    }
}
