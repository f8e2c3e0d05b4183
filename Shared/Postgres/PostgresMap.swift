import Logging
import MailstackMaps
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// A sendmail map (access, virtusertable, mailertable) read from the tables every host
/// shares, as Postfix's pgsql: tables: `map_generations (map, generation)` names the current
/// generation of each map, `map_entries (map, generation, key, value)` holds its entries as
/// `mailstack makemap --pgsql` stored them (keys folded as makemap folds them). This host keeps
/// the current generation in memory and asks for the generation number every `checkInterval`;
/// a new one is loaded whole, so a lookup sees one generation or the next, never a mix.
/// Lookups are in memory, with sendmail's key folding (SendmailMap's). A snapshot not
/// confirmed current within `maxStale` (the database down) makes lookups throw: the policy
/// answers 4xx rather than decide on a map that may have changed.
public final class PostgresMap: Service, MapSource, Sendable {
    struct Snapshot {
        var generation: Int64
        var entries: [[UInt8]: [UInt8]]
        var confirmed: ContinuousClock.Instant
    }

    public let name: String
    let database: SharedDatabase
    let checkInterval: Duration
    let maxStale: Duration
    let logger: Logger
    let snapshot = Mutex<Snapshot?>(nil)

    /// The most entries one map may have (a map, not a dump of the internet).
    static let maxEntries = 1_000_000

    public init(name: String, database: SharedDatabase, checkInterval: Duration, maxStale: Duration, logger: Logger) {
        self.name = name
        self.database = database
        self.checkInterval = checkInterval
        self.maxStale = maxStale
        self.logger = logger
    }

    /// The value for `key` (ASCII folded to lower case, as makemap stored it), or nil.
    public func lookup(_ key: String) throws -> String? {
        try lookup(bytes: Array(key.utf8).map(MakeMap.asciiLower)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The value stored under exactly `key` (aliases: sendmail's NUL-terminated records), or nil.
    public func lookup(bytes key: [UInt8]) throws -> [UInt8]? {
        let now = ContinuousClock.now
        guard let current = snapshot.withLock({ $0 }), now - current.confirmed <= maxStale else {
            throw MapError.missing(path: "\(sourceName) (not confirmed current within \(maxStale))")
        }
        return current.entries[key]
    }

    public var sourceName: String { "pgsql map \(name)" }

    public var generation: Int64? { snapshot.withLock { $0?.generation } }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while true {
                await self.refresh()
                try await Task.sleep(for: self.checkInterval)
            }
        }
    }

    /// Confirms the generation in memory, or loads the new one.
    public func refresh() async {
        let name = self.name
        let asked = ContinuousClock.now
        do {
            let generation = try await database.call("map \(name) generation") { client -> Int64 in
                let rows = try await client.query("SELECT generation FROM map_generations WHERE map = \(name)")
                for try await generation in rows.decode(Int64.self) { return generation }
                return 0 // never loaded: an empty map
            }
            if snapshot.withLock({ $0?.generation }) == generation {
                snapshot.withLock { $0?.confirmed = asked }
                return
            }
            let limit = Self.maxEntries
            let entries = try await database.call("map \(name) load") { client -> [[UInt8]: [UInt8]] in
                let rows = try await client.query("""
                    SELECT key, value FROM map_entries WHERE map = \(name) AND generation = \(generation) LIMIT \(limit)
                    """)
                var entries: [[UInt8]: [UInt8]] = [:]
                for try await (key, value) in rows.decode((ByteBuffer, ByteBuffer).self) {
                    entries[Array(key.readableBytesView)] = Array(value.readableBytesView)
                }
                return entries
            }
            snapshot.withLock { $0 = Snapshot(generation: generation, entries: entries, confirmed: asked) }
            logger.info("map \(name): generation \(generation), \(entries.count) entries")
        } catch {
            logger.warning("map \(name): \(error)")
        }
    }
}
