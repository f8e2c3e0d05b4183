import Logging
import MailstackMaps
import NIOCore
import PostgresNIO

/// `mailstack makemap --pgsql`: a sendmail text map, parsed as makemap parses it, becomes the
/// next generation of a map in the shared tables in one transaction: its entries inserted
/// under the new generation number, `map_generations` pointed at it, the old generation's
/// entries deleted. Readers see the old map or the new one, never a mix; two loads of the same
/// map at once are serialized by the row lock on `map_generations`.
public enum PostgresMapLoader {
    public static let schema = [
        "CREATE TABLE IF NOT EXISTS map_generations (map text PRIMARY KEY, generation bigint NOT NULL)",
        "CREATE TABLE IF NOT EXISTS map_entries (map text NOT NULL, generation bigint NOT NULL, key bytea NOT NULL, value bytea NOT NULL, PRIMARY KEY (map, generation, key))",
    ]

    /// Names a map may have: what relay-policy reads (virtuser-domains: one entry per domain,
    /// its value empty).
    public static let mapNames: Set<String> = ["access", "virtusertable", "mailertable", "aliases", "virtuser-domains"]

    /// Loads `entries` as `map`'s next generation; returns its number.
    public static func load(_ entries: [MakeMap.Entry], map: String, database: SharedDatabase) async throws -> Int64 {
        try await database.call("makemap \(map)") { client in
            for statement in schema { try await client.query(PostgresQuery(unsafeSQL: statement)) }
            return try await client.withTransaction(logger: Logger(label: "mailstack.makemap")) { connection in
                try await connection.query("INSERT INTO map_generations VALUES (\(map), 0) ON CONFLICT (map) DO NOTHING", logger: Self.quiet)
                let rows = try await connection.query(
                    "UPDATE map_generations SET generation = generation + 1 WHERE map = \(map) RETURNING generation", logger: Self.quiet)
                var generation: Int64 = 0
                for try await value in rows.decode(Int64.self) { generation = value }
                for start in stride(from: 0, to: entries.count, by: Self.batch) {
                    try await connection.query(insert(entries[start..<min(start + Self.batch, entries.count)], map: map, generation: generation),
                                               logger: Self.quiet)
                }
                try await connection.query("DELETE FROM map_entries WHERE map = \(map) AND generation < \(generation)", logger: Self.quiet)
                return generation
            }
        }
    }

    /// Entries per INSERT (two bound parameters each, within PostgreSQL's 65,535).
    static let batch = 1000

    /// One multi-row INSERT; every value a bound parameter ($1 the map, $2 the generation).
    static func insert(_ entries: ArraySlice<MakeMap.Entry>, map: String, generation: Int64) -> PostgresQuery {
        var bindings = PostgresBindings(capacity: 2 + 2 * entries.count)
        bindings.append(map)
        bindings.append(generation)
        var rows: [String] = []
        for (index, entry) in entries.enumerated() {
            bindings.append(ByteBuffer(bytes: entry.key))
            bindings.append(ByteBuffer(bytes: entry.value))
            rows.append("($1, $2, $\(3 + 2 * index), $\(4 + 2 * index))")
        }
        return PostgresQuery(unsafeSQL: "INSERT INTO map_entries VALUES " + rows.joined(separator: ", "), binds: bindings)
    }

    static let quiet = Logger(label: "mailstack.makemap", factory: { _ in SwiftLogNoOpLogHandler() })
}
