@testable import DracRegistryService
import Foundation
import IPC
import IPCTransport
import Logging
import MailstackPostgres
import Testing
import TestSupport

/// The shared drac table on a real PostgreSQL: two registries as two hosts would hold them,
/// expiry by the database's clock, concurrent sweeps, the database stopped and started again,
/// and the drac-registry binary with drac.backend=pgsql.
@Suite("drac-registry on PostgreSQL", .serialized, .enabled(if: TestPostgres.isInstalled))
struct DracPostgresTests {
    let server: TestPostgres
    init() throws { server = try TestPostgres() }

    func settings(timeout: Duration = .seconds(30)) -> DatabaseSettings {
        DatabaseSettings(host: server.host, port: server.port, database: "mailstack", user: "mailstack",
                         password: server.password, timeout: timeout)
    }

    /// A registry as one host's drac-registry holds it, with its pool running until `body` ends.
    /// `feed`: with the change feed drac-registry runs beside it.
    func withHost<T: Sendable>(window: Duration = .seconds(1800), cacheTTL: Duration = .zero, timeout: Duration = .seconds(30),
                               feed: Bool = false,
                               _ body: @Sendable @escaping (DracPostgresRegistry) async throws -> T) async throws -> T {
        let database = SharedDatabase(settings: settings(timeout: timeout), logger: Logger(label: "test"))
        let registry = DracPostgresRegistry(database: database, window: window, cacheTTL: cacheTTL)
        let changes = feed ? try DracChangeFeed(settings: settings(timeout: timeout), registry: registry, logger: Logger(label: "test")) : nil
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { await database.client.run(); return nil }
            if let changes { group.addTask { try await changes.run(); return nil } }
            defer { group.cancelAll() }
            return try await body(registry)
        }
    }

    @Test("a login recorded by one host authorizes on the other; a delete or flush is seen by both")
    func twoHosts() async throws {
        try await withHost { a in
            try await withHost { b in
                let client = DracAddress("::ffff:192.0.2.7")!
                #expect(try await b.lookup(client) == nil)
                let expires = try await a.add(client)
                #expect(try await b.lookup(client) == expires)
                #expect(try await a.list().map(\.address) == ["192.0.2.7"])
                #expect(try await b.delete(client))
                #expect(try await a.lookup(client) == nil)
                _ = try await a.add(client)
                _ = try await b.add(DracAddress("2001:db8::1")!)
                #expect(try await b.flush() == 2)
                #expect(try await a.list().isEmpty)
            }
        }
    }

    @Test("with the change feed, B keeps its 'not authorized' only until A's login commits, and its 'authorized' only until A's delete")
    func changeFeed() async throws {
        try await withHost { a in
            try await withHost(cacheTTL: .seconds(3600), feed: true) { b in
                try await TestSupport.eventually { b.cache.isHearing }
                let client = DracAddress("192.0.2.20")!
                #expect(try await b.lookup(client) == nil)
                #expect(b.cache.get("192.0.2.20") == .unknown) // kept for up to an hour...
                let expires = try await a.add(client)
                // ...but A's add notifies B when it commits (without the feed this waits an hour).
                try await TestSupport.eventually { b.cache.get("192.0.2.20") == nil }
                #expect(try await b.lookup(client) == expires)
                #expect(b.cache.get("192.0.2.20") == .authorized(expires: expires))
                #expect(try await a.delete(client))
                try await TestSupport.eventually { b.cache.get("192.0.2.20") == nil }
                #expect(try await b.lookup(client) == nil)
                _ = try await a.add(client)
                try await TestSupport.eventually { (try? await b.lookup(client)) != nil }
                #expect(try await a.flush() == 1)
                try await TestSupport.eventually { b.cache.get("192.0.2.20") == nil }
                #expect(try await b.lookup(client) == nil)
            }
        }
    }

    @Test("the feed lost (database stopped): B drops every answer and keeps no negative until it hears again")
    func changeFeedLost() async throws {
        try await withHost(cacheTTL: .seconds(3600), feed: true) { b in
            try await TestSupport.eventually { b.cache.isHearing }
            let client = DracAddress("192.0.2.21")!
            #expect(try await b.lookup(client) == nil)
            #expect(b.cache.get("192.0.2.21") == .unknown)
            try server.stop()
            try await TestSupport.eventually { !b.cache.isHearing }
            #expect(b.cache.get("192.0.2.21") == nil)
            // While deaf, a negative answer is not kept (a login elsewhere could not drop it).
            b.cache.put("192.0.2.21", .unknown, asked: .now, epoch: b.cache.epoch)
            #expect(b.cache.get("192.0.2.21") == nil)
            try server.start()
            try await TestSupport.eventually { b.cache.isHearing }
            #expect(try await b.lookup(client) == nil)
            #expect(b.cache.get("192.0.2.21") == .unknown)
        }
    }

    @Test("the window is the database's: an entry expired by now() in SQL no longer authorizes, and a cached answer ends with it")
    func databaseClock() async throws {
        try await withHost(cacheTTL: .seconds(3600)) { cached in
            try await withHost { uncached in
                let client = DracAddress("192.0.2.8")!
                _ = try await uncached.add(client)
                try server.sql("UPDATE drac SET expires = now() - interval '1 second' WHERE address = '192.0.2.8'")
                #expect(try await uncached.lookup(client) == nil)
                #expect(try await cached.lookup(client) == nil)
                // The database gives the entry 2 s more by its own clock; the host that caches for
                // an hour keeps the answer no longer than those 2 s (else this never ends).
                try server.sql("UPDATE drac SET expires = now() + interval '2 seconds' WHERE address = '192.0.2.8'")
                #expect(try await cached.lookup(client) != nil)
                try await TestSupport.eventually { (try? await cached.lookup(client)) == nil }
                #expect(try await uncached.lookup(client) == nil)
            }
        }
    }

    @Test("a short window closes on both hosts by itself")
    func windowEnds() async throws {
        try await withHost(window: .seconds(1), cacheTTL: .seconds(60)) { a in
            try await withHost(cacheTTL: .seconds(60)) { b in
                let client = DracAddress("192.0.2.9")!
                let added = ContinuousClock.now
                _ = try await a.add(client)
                // The other host sees it while the window lasts (on a loaded machine the second
                // may be over before it asks: then the window, not the other host, ended it).
                let seen = try await b.lookup(client) != nil
                #expect(seen || ContinuousClock.now - added >= .seconds(1))
                try await TestSupport.eventually {
                    let onA = try? await a.lookup(client)
                    let onB = try? await b.lookup(client)
                    return onA == nil && onB == nil
                }
            }
        }
    }

    @Test("several hosts sweeping at once remove each expired entry once, and nothing unexpired")
    func concurrentSweeps() async throws {
        try await withHost { a in _ = try await a.sweep() }
        try server.sql("""
            INSERT INTO drac SELECT '10.0.' || (i / 256) || '.' || (i % 256), now() - interval '1 minute' FROM generate_series(1, 2000) i;
            INSERT INTO drac VALUES ('192.0.2.10', now() + interval '1 hour')
            """)
        let removed = try await withHost { a in
            try await withHost { b in
                try await withHost { c in
                    async let x = a.sweep()
                    async let y = b.sweep()
                    async let z = c.sweep()
                    return try await x + y + z
                }
            }
        }
        #expect(removed == 2000)
        #expect(try server.sql("SELECT address FROM drac") == "192.0.2.10\n")
    }

    @Test("database stopped: lookups fail as unavailable within the deadline; they work again once it is back")
    func databaseDown() async throws {
        try await withHost(timeout: .seconds(1)) { registry in
            let client = DracAddress("192.0.2.11")!
            _ = try await registry.add(client)
            try server.stop()
            let started = ContinuousClock.now
            await #expect(throws: DatabaseUnavailable.self) { try await registry.lookup(client) }
            // The deadline holds (1 s), with room for a loaded machine.
            #expect(ContinuousClock.now - started < .seconds(10))
            try server.start()
            try await TestSupport.eventually { (try? await registry.lookup(client)) != nil }
        }
    }

    @Test("database stopped: once a call finds it unreachable, the next ones fail at once (no deadline to wait out) until retryAfter")
    func outageFailsFast() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let database = SharedDatabase(settings: settings(timeout: .seconds(1)), retryAfter: .seconds(3600), logger: logger)
        @Sendable func ask(_ what: String) async throws -> Int {
            try await database.call(what) { client in
                for try await n in try await client.query("SELECT 1").decode(Int.self) { return n }
                return 0
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await database.client.run() }
            defer { group.cancelAll() }
            #expect(try await ask("up") == 1)
            try server.stop()
            let first = await #expect(throws: DatabaseUnavailable.self) { try await ask("first") }
            #expect(first?.reason.contains("a moment ago") == false, "\(String(describing: first))")
            let second = await #expect(throws: DatabaseUnavailable.self) { try await ask("second") }
            #expect(second?.reason == "second: the database was unreachable a moment ago (tried again after 3600.0 seconds)")
        }
        // An error the server answers itself opens no outage.
        try server.start()
        let up = SharedDatabase(settings: settings(timeout: .seconds(10)), retryAfter: .seconds(3600), logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await up.client.run() }
            defer { group.cancelAll() }
            await #expect(throws: DatabaseUnavailable.self) {
                try await up.call("bad") { client in try await client.query("SELECT * FROM no_such_table") }
            }
            let good = try await up.call("good") { client -> Int in
                for try await n in try await client.query("SELECT 2").decode(Int.self) { return n }
                return 0
            }
            #expect(good == 2)
        }
    }
}
