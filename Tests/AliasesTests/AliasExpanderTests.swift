import MailstackAliases
import Synchronization
import Testing

/// The alias expander as a decision table: one aliases file, one set of mailboxes, one set of
/// :include: files; each row a name and what it ends in.
@Suite("aliases: expansion")
struct AliasExpanderTests {
    static let aliases = """
        postmaster: root
        mailer-daemon: postmaster
        abuse: root
        root: you, \\root
        info: info, user2
        nobox: nobox, user2
        loop1: loop2
        loop2: loop1
        user4: fwd4
        fwd4: user4
        list: you, user2, user4
        owner-list: you
        list-request: you
        biglist: list, you, team
        team: user2, user4
        gone: error:5.1.1:This address is gone
        ghost: nobody
        prog: "|/usr/bin/prog arg, with comma", you
        archive: /var/log/archive
        staff: :include:/lists/staff
        incloop: :include:/lists/loop
        missing: :include:/lists/missing
        dups: you, you, \\you, You, user2@example.com, user2@example.com
        mixed: User2
        remote: user3@docomo.ne.jp
        ghosts: nobody, nobody2, nobody
        """ + "\n" + (0..<25).map { "deep\($0): deep\($0 + 1)" }.joined(separator: "\n") + "\ndeep25: you\n"

    static let mailboxes: Set<String> = ["you", "user2", "user4", "root", "info"]

    static let includes = [
        "/lists/staff": "# staff\nyou\nuser2, \"|/usr/bin/archive staff\"\n/var/log/staff\nnobody\nprog\n",
        "/lists/loop": ":include:/lists/loop, you\n",
    ]

    static func expander(limits: AliasExpander.Limits = .init(), lookupFails: Bool = false, usersFail: Bool = false) throws -> AliasExpander {
        let file = try AliasesTestSupport.parse(aliases)
        let table = Dictionary(uniqueKeysWithValues: file.entries.map { ($0.name, $0.targets) })
        return AliasExpander(
            domain: "domain1.com", limits: limits,
            lookup: { name in
                if lookupFails { throw AliasesError.unreadable(path: "aliases.db", reason: "gone") }
                return table[name]
            },
            isMailbox: { name in
                if usersFail { throw AliasesError.unreadable(path: "mail_users", reason: "database down") }
                return mailboxes.contains(name)
            },
            readInclude: { path in
                guard let text = includes[path] else { throw AliasesError.unreadable(path: path, reason: "No such file or directory") }
                return try AliasIncludeFile.parse(Array(text.utf8), file: path)
            })
    }

    static let unknown = AliasDelivery.Target.error(code: 550, enhanced: "5.1.1", text: "User unknown")
    static let loop = AliasDelivery.Target.error(code: 554, enhanced: "5.4.6", text: "aliasing/forwarding loop broken")

    @Test("what each name ends in", arguments: [
        ("you", [.mailbox("you")]),
        ("You", [.mailbox("you")]),
        ("\\postmaster", [unknown]),
        ("postmaster", [.mailbox("you"), .mailbox("root")]),
        ("PostMaster", [.mailbox("you"), .mailbox("root")]),
        ("mailer-daemon", [.mailbox("you"), .mailbox("root")]),
        ("nobody", [unknown]),
        ("ghost", [unknown]),
        ("ghosts", [unknown, unknown]),
        ("info", [.mailbox("info"), .mailbox("user2")]),
        ("nobox", [unknown, .mailbox("user2")]),
        ("loop1", [loop]),
        ("user4", [.mailbox("user4")]),
        ("fwd4", [.mailbox("user4")]),
        ("list", [.mailbox("you"), .mailbox("user2"), .mailbox("user4")]),
        ("list-request", [.mailbox("you")]),
        ("biglist", [.mailbox("you"), .mailbox("user2"), .mailbox("user4")]),
        ("gone", [.error(code: 550, enhanced: "5.1.1", text: "This address is gone")]),
        ("prog", [.program(command: "/usr/bin/prog arg, with comma", runAs: .defaultUser), .mailbox("you")]),
        ("archive", [.file(path: "/var/log/archive", runAs: .defaultUser)]),
        ("staff", [.mailbox("you"), .mailbox("user2"), .program(command: "/usr/bin/archive staff", runAs: .includeOwner(path: "/lists/staff")),
                   .file(path: "/var/log/staff", runAs: .includeOwner(path: "/lists/staff")), unknown,
                   .program(command: "/usr/bin/prog arg, with comma", runAs: .defaultUser)]),
        ("incloop", [.mailbox("you")]),
        ("missing", [.error(code: 550, enhanced: "5.2.4", text: "Cannot open /lists/missing: No such file or directory")]),
        ("dups", [.mailbox("you"), .address("user2@example.com")]),
        ("mixed", [.mailbox("user2")]),
        ("remote", [.address("user3@docomo.ne.jp")]),
        ("deep6", [.mailbox("you")]),
        ("deep5", [.error(code: 554, enhanced: "5.4.6", text: "aliasing/forwarding loop broken (21 aliases deep; 20 max)")]),
    ] as [(String, [AliasDelivery.Target])])
    func expands(name: String, expected: [AliasDelivery.Target]) throws {
        #expect(try Self.expander().expand(name).targets == expected)
    }

    @Test("owner-LIST: the deliveries from LIST get owner-LIST@domain as envelope sender")
    func owner() throws {
        let expander = try Self.expander()
        let list = expander.expand("list")
        #expect(list.envelopeSender == "owner-list@domain1.com")
        #expect(list.deliveries.allSatisfy { $0.envelopeSender == "owner-list@domain1.com" })
        #expect(list.deliveries.map(\.alias) == ["list", "list", "fwd4"], "user4 is met again in the loop user4 -> fwd4 -> user4")
        let big = expander.expand("biglist")
        #expect(big.envelopeSender == nil)
        #expect(big.deliveries.map(\.envelopeSender) == ["owner-list@domain1.com", "owner-list@domain1.com", "owner-list@domain1.com"],
                "the first way to each mailbox was through list")
        #expect(expander.expand("list-request").envelopeSender == nil, "LIST-request is an ordinary alias")
        #expect(expander.expand("you").envelopeSender == nil)
    }

    @Test("each delivery says which recipient, alias and :include: it came from")
    func provenance() throws {
        let staff = try Self.expander().expand("staff").deliveries
        #expect(staff.map(\.recipient) == ["you", "user2", "\"|/usr/bin/archive staff\"", "/var/log/staff", "nobody",
                                           "\"|/usr/bin/prog arg, with comma\""])
        #expect(staff.map(\.alias) == ["staff", "staff", "staff", "staff", "staff", "prog"])
        #expect(staff.map(\.include) == ["/lists/staff", "/lists/staff", "/lists/staff", "/lists/staff", "/lists/staff", nil],
                "an alias met in an :include: file is the aliases file's again")
        let ghosts = try Self.expander().expand("ghosts").deliveries
        #expect(ghosts.map(\.recipient) == ["nobody", "nobody2"], "two unknown users are two errors, each once")
        #expect(try Self.expander().expand("nobody").deliveries == [
            AliasDelivery(target: Self.unknown, recipient: "nobody", alias: "nobody"),
        ])
    }

    @Test("limits: depth, :include: depth, recipients, targets examined")
    func limits() throws {
        var limits = AliasExpander.Limits()
        limits.maxDepth = 3
        #expect(try Self.expander(limits: limits).expand("deep0").targets == [
            .error(code: 554, enhanced: "5.4.6", text: "aliasing/forwarding loop broken (4 aliases deep; 3 max)"),
        ])
        #expect(try Self.expander(limits: limits).expand("deep23").targets == [.mailbox("you")])
        limits = .init()
        limits.maxIncludeDepth = 0
        #expect(try Self.expander(limits: limits).expand("staff").targets == [
            .error(code: 554, enhanced: "5.4.6", text: ":include: files nested too deeply (0 max)"),
        ])
        limits = .init()
        limits.maxRecipients = 2
        #expect(try Self.expander(limits: limits).expand("list").targets == [
            .mailbox("you"), .mailbox("user2"), .error(code: 552, enhanced: "5.5.3", text: "Too many recipients (limit 2)"),
        ])
        limits = .init()
        limits.maxTargets = 3
        #expect(try Self.expander(limits: limits).expand("dups").targets == [
            .mailbox("you"), .error(code: 552, enhanced: "5.5.3", text: "Too many alias targets (limit 3)"),
        ])
    }

    @Test("an unreadable aliases database is a temporary failure; so is a transient :include: error")
    func temporary() throws {
        #expect(try Self.expander(lookupFails: true).expand("list").targets == [
            .error(code: 451, enhanced: "4.3.0", text: "alias database unavailable"),
        ])
        let expander = AliasExpander(domain: "d", lookup: { _ in [.include("/nfs/list")] }, isMailbox: { _ in false },
                                     readInclude: { _ in throw AliasTemporaryFailure("Stale file handle") })
        #expect(expander.expand("x").targets == [.error(code: 451, enhanced: "4.2.4", text: "Cannot open /nfs/list: Stale file handle")])
    }

    @Test("users that cannot be read are a temporary failure for each name that needs them, never User unknown")
    func usersUnavailable() throws {
        let expander = try Self.expander(usersFail: true)
        let unavailable = AliasDelivery.Target.error(code: 451, enhanced: "4.3.0", text: "user database unavailable")
        #expect(expander.expand("you").targets == [unavailable])
        #expect(expander.expand("list").deliveries.map(\.recipient) == ["you", "user2", "user4"]) // each member's own 451
        #expect(Set(expander.expand("list").targets) == [unavailable])
        #expect(expander.expand("loop1").targets == [unavailable]) // a loop's way out needs the users too
        #expect(expander.expand("remote").targets == [.address("user3@docomo.ne.jp")]) // no mailbox asked
    }

    @Test("every alias is looked up once per expansion, whatever the repeats")
    func work() throws {
        let lookups = Mutex([String: Int]())
        let names = (0..<50).map { "a\($0)" }
        let expander = AliasExpander(
            domain: "d",
            lookup: { name in
                lookups.withLock { $0[name, default: 0] += 1 }
                switch name {
                case "big": return (names + names).map { .local($0) }
                case "b": return [.local("you"), .local("big")]
                default: return name.hasPrefix("a") ? [.local("b"), .local("you")] : nil
                }
            },
            isMailbox: { $0 == "you" })
        #expect(expander.expand("big").targets == [.mailbox("you")])
        #expect(lookups.withLock { $0["big"] == 1 && $0["b"] == 1 && $0.count == 2 + 50 + 1 + 52 }, "big, b, a0...a49, you; owner-*")
        #expect(lookups.withLock { $0.filter { $0.key != "you" }.values.allSatisfy { $0 == 1 } })
    }
}
