import Logging
import MailstackPostgres
import Testing
import TestSupport
import Users

/// Users from the shared table, as Dovecot's SQL passdb: the passwd-file's hash formats, one
/// bound query per login, "cannot say" when the database is down.
@Suite("users on PostgreSQL", .serialized, .enabled(if: TestPostgres.isInstalled))
struct PostgresUsersTests {
    let server: TestPostgres
    init() throws {
        server = try TestPostgres()
        try server.sql("CREATE TABLE mail_users (name text PRIMARY KEY, password text NOT NULL)")
    }

    func withUsers<T: Sendable>(timeout: Duration = .seconds(30), _ body: @Sendable @escaping (PostgresUsers) async throws -> T) async throws -> T {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let database = SharedDatabase(settings: DatabaseSettings(host: server.host, port: server.port, database: "mailstack", user: "mailstack",
                                                                 password: server.password, timeout: timeout), logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { await database.client.run(); return nil }
            defer { group.cancelAll() }
            return try await body(PostgresUsers(database: database, logger: logger))
        }
    }

    @Test("SHA512-CRYPT and PLAIN rows verify as in the passwd-file; unknown users, bad rows and odd names are no user")
    func lookups() async throws {
        let hash = try #require(PasswdFile.hash("secret1"))
        try server.sql("INSERT INTO mail_users VALUES ('you', '\(hash)'), ('apop', '{PLAIN}secret2'), ('bad', '{ROT13}x'), ('o''brien', '{PLAIN}x')")
        try await withUsers { users in
            let you = try await users.user("you")
            #expect(you?.scheme == "SHA512-CRYPT")
            #expect(PasswdFile.verify(you, password: "secret1"))
            #expect(!PasswdFile.verify(you, password: "secret2"))
            #expect(try await users.user("apop")?.apopSecret == "secret2")
            #expect(try await users.user("nobody") == nil)
            #expect(!PasswdFile.verify(nil, password: "secret1"))
            #expect(try await users.user("bad") == nil)
            // A quote in a name is a bound parameter like any other character.
            #expect(try await users.user("o'brien")?.secret == "x")
            #expect(try await users.user("you' OR '1'='1") == nil)
            #expect(try await users.user("a\u{1}b") == nil)
        }
    }

    @Test("the database stopped: lookups throw (a temporary refusal), and work again once it is back")
    func databaseDown() async throws {
        try server.sql("INSERT INTO mail_users VALUES ('you', '{PLAIN}secret1')")
        try await withUsers(timeout: .seconds(1)) { users in
            try server.stop()
            await #expect(throws: DatabaseUnavailable.self) { try await users.user("you") }
            try server.start()
            try await TestSupport.eventually { (try? await users.user("you")) != nil }
        }
    }

    @Test("relay-policy's names: loaded whole, reloaded when a row is added, renamed or removed, stale past maxStale with the database stopped")
    func names() async throws {
        try server.sql("INSERT INTO mail_users VALUES ('you', '{PLAIN}x'), ('User2', '{PLAIN}y'), ('a' || chr(1) || 'b', '{PLAIN}z')")
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let database = SharedDatabase(settings: DatabaseSettings(host: server.host, port: server.port, database: "mailstack", user: "mailstack",
                                                                 password: server.password, timeout: .seconds(2)), logger: logger)
        let names = PostgresUserNames(database: database, checkInterval: .milliseconds(50), maxStale: .seconds(2), logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await database.client.run() }
            group.addTask { try await names.run() }
            defer { group.cancelAll() }
            try await TestSupport.eventually { (try? names.contains("you")) == true }
            #expect(try names.contains("User2"))
            #expect(try !names.contains("user2")) // as written: the alias expander tries the folded name itself
            #expect(try !names.contains("a\u{1}b")) // no login could use it
            #expect(try !names.contains("nobody"))
            try server.sql("INSERT INTO mail_users VALUES ('newbie', '{PLAIN}x')")
            try await TestSupport.eventually { (try? names.contains("newbie")) == true }
            // Same count, another name: the fingerprint changes all the same.
            try server.sql("UPDATE mail_users SET name = 'renamed' WHERE name = 'newbie'")
            try await TestSupport.eventually { (try? names.contains("renamed")) == true }
            #expect(try !names.contains("newbie"))
            try server.sql("DELETE FROM mail_users WHERE name = 'you'")
            try await TestSupport.eventually { (try? names.contains("you")) == false }
            try server.stop()
            try await TestSupport.eventually { (try? names.contains("renamed")) == nil } // throws: cannot say
            try server.start()
            try await TestSupport.eventually { (try? names.contains("renamed")) == true }
        }
    }
}
