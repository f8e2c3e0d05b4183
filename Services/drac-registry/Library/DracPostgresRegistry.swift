import Logging
import MailstackPostgres
import PostgresNIO
import Synchronization

/// The registry every host shares: the table `drac (address text primary key, expires
/// timestamptz)` in the pgsql.* database. Expiry is decided by the database's clock (`now()`
/// in SQL), never by a host's: an entry authorizes while `expires > now()`. Sweeps are one
/// `DELETE ... WHERE expires <= now()`, so several hosts sweeping at once only repeat each
/// other's work. Every add, delete and flush notifies the other hosts in the same statement
/// (`pg_notify` on `DracChangeFeed.channel`, delivered when it commits). Answers are cached
/// (`DracLookupCache`: negative ones only while `DracChangeFeed` hears those notifications).
/// Every statement has bound parameters only, and every call a deadline (`SharedDatabase.call`).
public final class DracPostgresRegistry: DracBackend {
    let database: SharedDatabase
    let window: Int64
    let cache: DracLookupCache
    let schemaReady = Atomic<Bool>(false)

    /// The most entries `list` returns (the administrator's view, not a dump).
    static let listLimit = 100_000

    public init(database: SharedDatabase, window: Duration, cacheTTL: Duration) {
        self.database = database
        self.window = window.components.seconds
        self.cache = DracLookupCache(ttl: cacheTTL)
    }

    /// Creates the table when it is missing (once per process; again after a failure).
    func ensureSchema() async throws {
        guard !schemaReady.load(ordering: .acquiring) else { return }
        try await database.call("drac schema") { client in
            try await client.query("CREATE TABLE IF NOT EXISTS drac (address text PRIMARY KEY, expires timestamptz NOT NULL)")
            try await client.query("CREATE INDEX IF NOT EXISTS drac_expires ON drac (expires)")
        }
        schemaReady.store(true, ordering: .releasing)
    }

    public func lookup(_ address: DracAddress) async throws -> Int64? {
        let key = address.text
        switch cache.get(key) {
        case let .authorized(expires)?: return expires
        case .unknown?: return nil
        case nil: break
        }
        try await ensureSchema()
        let (asked, epoch) = (ContinuousClock.now, cache.epoch)
        let row = try await database.call("drac lookup") { client -> (Int64, Double)? in
            let rows = try await client.query("""
                SELECT floor(extract(epoch FROM expires))::bigint, extract(epoch FROM expires - now())::float8
                FROM drac WHERE address = \(key) AND expires > now()
                """)
            for try await (expires, remaining) in rows.decode((Int64, Double).self) { return (expires, remaining) }
            return nil
        }
        guard let (expires, remaining) = row else {
            cache.put(key, .unknown, asked: asked, epoch: epoch)
            return nil
        }
        cache.put(key, .authorized(expires: expires), remaining: .microseconds(Int64(remaining * 1_000_000)), asked: asked, epoch: epoch)
        return expires
    }

    public func add(_ address: DracAddress) async throws -> Int64 {
        try await ensureSchema()
        let key = address.text
        let seconds = Double(window)
        let channel = DracChangeFeed.channel
        defer { cache.changed(key) }
        return try await database.call("drac add") { client in
            let rows = try await client.query("""
                WITH added AS (
                    INSERT INTO drac (address, expires) VALUES (\(key), now() + make_interval(secs => \(seconds)))
                    ON CONFLICT (address) DO UPDATE SET expires = EXCLUDED.expires RETURNING expires)
                SELECT floor(extract(epoch FROM expires))::bigint FROM added, pg_notify(\(channel), \(key))
                """)
            for try await expires in rows.decode(Int64.self) { return expires }
            throw DatabaseUnavailable("drac add: no row returned")
        }
    }

    public func delete(_ address: DracAddress) async throws -> Bool {
        try await ensureSchema()
        let key = address.text
        let channel = DracChangeFeed.channel
        defer { cache.changed(key) }
        return try await count("drac delete", """
            WITH gone AS (DELETE FROM drac WHERE address = \(key) RETURNING 1)
            SELECT count(*) FROM gone, pg_notify(\(channel), \(key))
            """) > 0
    }

    public func flush() async throws -> Int {
        try await ensureSchema()
        let (channel, everything) = (DracChangeFeed.channel, DracChangeFeed.everything)
        defer { cache.changedAll() }
        return try await count("drac flush", """
            WITH gone AS (DELETE FROM drac RETURNING 1) SELECT count(*) FROM gone, pg_notify(\(channel), \(everything))
            """)
    }

    public func sweep() async throws -> Int {
        try await ensureSchema()
        return try await count("drac sweep", "WITH gone AS (DELETE FROM drac WHERE expires <= now() RETURNING 1) SELECT count(*) FROM gone")
    }

    public func list() async throws -> [DracRegistry.Entry] {
        try await ensureSchema()
        let limit = Self.listLimit
        return try await database.call("drac list") { client in
            let rows = try await client.query("""
                SELECT address, floor(extract(epoch FROM expires))::bigint FROM drac WHERE expires > now()
                ORDER BY address COLLATE "C" LIMIT \(limit)
                """)
            var entries: [DracRegistry.Entry] = []
            for try await (address, expires) in rows.decode((String, Int64).self) {
                entries.append(DracRegistry.Entry(address: address, expires: expires))
            }
            return entries
        }
    }

    func count(_ what: String, _ query: PostgresQuery) async throws -> Int {
        try await database.call(what) { client in
            let rows = try await client.query(query)
            for try await n in rows.decode(Int64.self) { return Int(n) }
            return 0
        }
    }
}
