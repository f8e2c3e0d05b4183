import Logging
import ServiceLifecycle
import Users

/// The names in the users table (`mail_users`), for relay-policy's "is this local name a
/// mailbox" (sendmail's local mailer accepting a user): kept in memory, because that question
/// is asked inside the alias expansion, many times per recipient. Every `checkInterval` this
/// host asks the database for a fingerprint of the names (their count and the sum of their
/// 64-bit hashes: one pass over the table, nothing sorted) and loads the names again when it
/// changed, so a user added or removed on any host counts here within about `checkInterval`.
/// Names a login could not use (PostgresUsers' rule) are left out. Not confirmed within
/// `maxStale` (the database down): `contains` throws, and the recipient gets a 4xx.
public final class PostgresUserNames: PeriodicRefresh, Sendable {
    let database: SharedDatabase
    public let checkInterval: Duration
    let logger: Logger
    let snapshot: ConfirmedSnapshot<String, Set<String>>

    /// The most names kept (more: the table is not loaded, and the names in memory go stale).
    public static let maxNames = 1_000_000

    public init(database: SharedDatabase, checkInterval: Duration, maxStale: Duration, logger: Logger) {
        self.database = database
        self.checkInterval = checkInterval
        self.logger = logger
        snapshot = ConfirmedSnapshot(maxStale: maxStale)
    }

    /// How many times the names were loaded (see `MapSource.loads`).
    public var loads: Int64 { snapshot.loads }

    /// Whether `name` is a user's name (exactly as written: the alias expander tries it folded too).
    public func contains(_ name: String) throws -> Bool {
        guard let names = snapshot.current() else {
            throw DatabaseUnavailable("users table not confirmed current within \(snapshot.maxStale)")
        }
        return names.contains(name)
    }

    /// Confirms the names in memory, or loads them again.
    public func refresh() async {
        let limit = Self.maxNames
        do {
            let loaded = try await snapshot.refresh(version: {
                try await database.call("users fingerprint") { client -> String in
                    let rows = try await client.query(
                        "SELECT count(*)::text || ':' || coalesce(sum(hashtextextended(name, 0)), 0)::text FROM mail_users")
                    for try await fingerprint in rows.decode(String.self) { return fingerprint }
                    return ""
                }
            }, load: { _ in
                try await database.call("users names") { client -> Set<String> in
                    let rows = try await client.query("SELECT name FROM mail_users LIMIT \(limit + 1)")
                    var names = Set<String>()
                    var count = 0
                    for try await name in rows.decode(String.self) {
                        count += 1
                        guard count <= limit else { throw DatabaseUnavailable("mail_users has more than \(limit) rows; not loaded") }
                        if PostgresUsers.isLoginName(name) { names.insert(name) }
                    }
                    return names
                }
            })
            if let loaded { logger.info("users: \(loaded.count) names from mail_users") }
        } catch {
            logger.warning("users: \(error)")
        }
    }
}
