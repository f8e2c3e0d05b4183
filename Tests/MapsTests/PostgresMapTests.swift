import Foundation
import Logging
import MailstackAliases
import MailstackMaps
import MailstackPostgres
import Testing
import TestSupport

/// Maps in the shared tables: `mailstack makemap --pgsql` loads a generation in one
/// transaction, PostgresMap answers as the Berkeley DB file built from the same text does.
@Suite("maps on PostgreSQL", .serialized, .enabled(if: TestPostgres.isInstalled))
struct PostgresMapTests {
    let server: TestPostgres
    let dir: String
    init() throws {
        server = try TestPostgres()
        dir = try TestSupport.temporaryDirectory("pgmap")
    }

    func makemap(_ arguments: [String], _ text: String) async throws -> TestSupport.Result {
        try await TestSupport.runAsync([TestSupport.binary("mailstack"), "makemap"] + arguments
                                       + server.settings.flatMap { [$0] } , input: Array(text.utf8))
    }

    func withMap<T: Sendable>(_ name: String, maxStale: Duration = .seconds(30), _ body: @Sendable @escaping (PostgresMap) async throws -> T) async throws -> T {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let database = SharedDatabase(settings: DatabaseSettings(host: server.host, port: server.port, database: "mailstack", user: "mailstack",
                                                                 password: server.password, timeout: .seconds(10)), logger: logger)
        let map = PostgresMap(name: name, database: database, checkInterval: .milliseconds(100), maxStale: maxStale, logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { await database.client.run(); return nil }
            defer { group.cancelAll() }
            // The first load (its connection too), however busy the machine: an event to wait for.
            try await TestSupport.eventually {
                await map.refresh()
                return map.generation != nil
            }
            return try await body(map)
        }
    }

    @Test("the seed's access map: every key and some others answer as the .db file does; a new generation replaces it whole")
    func sameAnswers() async throws {
        let source = try String(contentsOfFile: TestSupport.packageRoot + "/etc/mail/access", encoding: .utf8)
        #expect(try await TestSupport.runAsync([TestSupport.binary("mailstack"), "makemap", "hash", dir + "/access"], input: Array(source.utf8)).status == 0)
        let loaded = try await makemap(["--pgsql", "hash", "access"], source)
        #expect(loaded.status == 0, "\(loaded.stderr)")
        #expect(loaded.stdout.hasPrefix("access: generation 1, "), "\(loaded.stdout)")
        let file = SendmailMap(path: dir + "/access")
        let keys = source.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }
            .compactMap { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).first.map(String.init) }
        try await withMap("access") { map in
            #expect(map.generation == 1)
            for key in keys + keys.map { $0.uppercased() } + ["Connect:192.0.2.1", "nothing.example", ""] {
                #expect(try map.lookup(key) == file.lookup(key), "\(key)")
            }
            // A new generation: the old entries are gone, the new ones there, all at once.
            let again = try await makemap(["--pgsql", "hash", "access"], "new.example REJECT\n")
            #expect(again.status == 0, "\(again.stderr)")
            try await TestSupport.eventually {
                await map.refresh()
                return map.generation == 2
            }
            #expect(try map.lookup("NEW.example") == "REJECT")
            #expect(try map.lookup(keys[0]) == nil)
        }
        #expect(try server.sql("SELECT count(*) FROM map_entries WHERE map = 'access'") == "1\n")
    }

    @Test("a source with a bad line changes nothing (exit 65); an unknown map name is refused")
    func refusals() async throws {
        _ = try await makemap(["--pgsql", "hash", "mailertable"], "example.net smtp:[192.0.2.1]\n")
        let bad = try await makemap(["--pgsql", "hash", "mailertable"], "example.org smtp:x\nlonely\n")
        #expect(bad.status == 65)
        #expect(bad.stderr.contains("line 2"), "\(bad.stderr)")
        #expect(try server.sql("SELECT generation FROM map_generations WHERE map = 'mailertable'") == "1\n")
        let unknown = try await makemap(["--pgsql", "hash", "passwd"], "a b\n")
        #expect(unknown.status != 0)
    }

    @Test("virtuser-domains: read as sendmail reads the class file (every word up to #, lower case), one entry per domain")
    func virtualDomains() async throws {
        let loaded = try await makemap(["--pgsql", "hash", "virtuser-domains"], "# ours\nDomain1.com\ndomain2.tv  other.example # two here\n\n")
        #expect(loaded.status == 0, "\(loaded.stderr)")
        #expect(loaded.stdout.hasPrefix("virtuser-domains: generation 1, 3 entries"), "\(loaded.stdout)")
        try await withMap("virtuser-domains") { (map: PostgresMap) async throws in
            for domain in ["domain1.com", "domain2.tv", "other.example", "DOMAIN1.COM"] {
                #expect(try map.lookup(domain) == "", "\(domain)")
            }
            #expect(try map.lookup("#") == nil)
            #expect(try map.lookup("ours") == nil)
            #expect(try map.lookup("domain3.example") == nil)
        }
    }

    @Test("the database stopped: lookups answer from memory until maps.max_stale, then fail; back, they answer again")
    func databaseDown() async throws {
        _ = try await makemap(["--pgsql", "hash", "virtusertable"], "you@domain1.com you\n")
        try await withMap("virtusertable", maxStale: .seconds(1)) { map in
            // Answered while freshly confirmed (a confirmation is counted from before its query,
            // which on a busy machine can itself take longer than this test's 1 s max_stale).
            try await TestSupport.eventually {
                await map.refresh()
                return (try? map.lookup("you@domain1.com")) == "you"
            }
            try server.stop()
            try await TestSupport.eventually {
                await map.refresh()
                return (try? map.lookup("you@domain1.com")) == nil
            }
            #expect(throws: MapError.self) { try map.lookup("you@domain1.com") }
            try server.start()
            try await TestSupport.eventually {
                await map.refresh()
                return (try? map.lookup("you@domain1.com")) == "you"
            }
        }
    }

    @Test("newaliases --pgsql: the sample aliases answer through the table as through aliases.db")
    func aliases() async throws {
        let source = try String(contentsOfFile: TestSupport.packageRoot + "/etc/mail/aliases", encoding: .utf8) + "team: you, \\user2\n"
        try source.write(toFile: dir + "/aliases", atomically: true, encoding: .utf8)
        #expect(try await TestSupport.runAsync([TestSupport.binary("mailstack"), "newaliases", dir + "/aliases"]).status == 0)
        let loaded = try await TestSupport.runAsync([TestSupport.binary("mailstack"), "newaliases", "--pgsql", dir + "/aliases"] + server.settings)
        #expect(loaded.status == 0, "\(loaded.stderr)")
        let file = AliasesDatabase(path: dir + "/aliases")
        let names = ["postmaster", "POSTMASTER", "root", "MAILER-DAEMON", "abuse", "team", "nobody-here", "@"]
        try await withMap("aliases") { map in
            let table = AliasesDatabase(source: map)
            for name in names {
                let fromTable = try table.value(for: name)
                let fromFile = try file.value(for: name)
                #expect(fromTable == fromFile, "\(name)")
            }
            let team = try table.targets(for: "team")
            #expect(team?.count == 2)
        }
    }
}
