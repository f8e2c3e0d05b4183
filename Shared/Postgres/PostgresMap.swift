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
public final class PostgresMap: PeriodicRefresh, MapSource, Sendable {
    public let name: String
    let database: SharedDatabase
    public let checkInterval: Duration
    let logger: Logger
    let snapshot: ConfirmedSnapshot<Int64, [[UInt8]: [UInt8]]>

    /// The most entries one map may have (a map, not a dump of the internet); `makemap --pgsql`
    /// refuses more. A generation with more is not loaded: the one in memory stays, unconfirmed.
    public static let maxEntries = 1_000_000

    public init(name: String, database: SharedDatabase, checkInterval: Duration, maxStale: Duration, logger: Logger) {
        self.name = name
        self.database = database
        self.checkInterval = checkInterval
        self.logger = logger
        snapshot = ConfirmedSnapshot(maxStale: maxStale)
    }

    public var loads: Int64 { snapshot.loads }

    /// The value for `key` (ASCII folded to lower case, as makemap stored it), or nil.
    public func lookup(_ key: String) throws -> String? {
        try lookup(bytes: Array(key.utf8).map(MakeMap.asciiLower)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The value stored under exactly `key` (aliases: sendmail's NUL-terminated records), or nil.
    public func lookup(bytes key: [UInt8]) throws -> [UInt8]? {
        guard let entries = snapshot.current() else {
            throw MapError.missing(path: "\(sourceName) (not confirmed current within \(snapshot.maxStale))")
        }
        return entries[key]
    }

    public var sourceName: String { "pgsql map \(name)" }

    public var generation: Int64? { snapshot.version }

    /// Confirms the generation in memory, or loads the new one.
    public func refresh() async {
        let name = self.name
        let limit = Self.maxEntries
        do {
            let loaded = try await snapshot.refresh(version: {
                try await database.call("map \(name) generation") { client -> Int64 in
                    let rows = try await client.query("SELECT generation FROM map_generations WHERE map = \(name)")
                    for try await generation in rows.decode(Int64.self) { return generation }
                    return 0 // never loaded: an empty map
                }
            }, load: { generation in
                try await database.call("map \(name) load") { client -> [[UInt8]: [UInt8]] in
                    let rows = try await client.query("""
                        SELECT key, value FROM map_entries WHERE map = \(name) AND generation = \(generation) LIMIT \(limit + 1)
                        """)
                    var entries: [[UInt8]: [UInt8]] = [:]
                    for try await (key, value) in rows.decode((ByteBuffer, ByteBuffer).self) {
                        guard entries.count < limit else {
                            throw DatabaseUnavailable("map \(name): generation \(generation) has more than \(limit) entries; not loaded")
                        }
                        entries[Array(key.readableBytesView)] = Array(value.readableBytesView)
                    }
                    return entries
                }
            })
            if let loaded { logger.info("map \(name): generation \(snapshot.version ?? 0), \(loaded.count) entries") }
        } catch {
            logger.warning("map \(name): \(error)")
        }
    }
}
