import Logging
import MailstackPostgres
import PostgresNIO
import ServiceLifecycle

/// Every host's changes to the shared drac table, heard on a connection of its own with
/// PostgreSQL's LISTEN (channel `mailstack_drac`; each add or delete notifies the address, a
/// flush `*`; the database delivers a notification when its transaction commits, to every
/// host). While it hears them, the lookup cache may keep negative answers: a login on host A
/// drops B's "not authorized" for that address as soon as A's add commits. The connection is
/// asked `SELECT 1` every `pingInterval`: one that fails or stays silent past the deadline is
/// a lost feed (notifications may have been missed), so the cache drops everything and keeps
/// no negative answer until the feed is back; it reconnects every `retryInterval`.
public final class DracChangeFeed: Service, Sendable {
    public static let channel = "mailstack_drac"
    /// The payload of a flush.
    public static let everything = "*"

    let connections: DedicatedConnection
    let cache: DracLookupCache
    let pingInterval: Duration
    let retryInterval: Duration
    let logger: Logger

    public init(settings: DatabaseSettings, registry: DracPostgresRegistry, pingInterval: Duration = .seconds(1),
                retryInterval: Duration = .seconds(1), logger: Logger) throws {
        connections = try DedicatedConnection(settings: settings, applicationName: "mailstack-drac-feed", logger: logger)
        cache = registry.cache
        self.pingInterval = pingInterval
        self.retryInterval = retryInterval
        self.logger = logger
    }

    struct Ended: Error, CustomStringConvertible {
        var description: String { "the notifications ended" }
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var lost = false
            while !Task.isCancelled {
                do {
                    try await self.listen()
                } catch {
                    if !lost && !Task.isCancelled {
                        self.logger.warning("drac: change feed lost (\(SharedDatabase.describe(error))); negative answers not cached until it is back")
                    }
                    lost = true
                }
                try await Task.sleep(for: self.retryInterval)
            }
        }
    }

    /// One connection's life: listen, hear, ping; returns or throws when it is lost.
    func listen() async throws {
        let connection = try await connections.connect(id: 1)
        defer {
            cache.setHearing(false)
            DedicatedConnection.close(connection)
        }
        let (cache, logger, timeout, pingInterval) = (self.cache, self.logger, connections.timeout, self.pingInterval)
        try await connection.listen(on: Self.channel) { notifications in
            cache.setHearing(true)
            logger.info("drac: hearing every host's changes (LISTEN \(Self.channel))")
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await notification in notifications {
                        if notification.payload == Self.everything { cache.changedAll() } else { cache.changed(notification.payload) }
                    }
                    throw Ended()
                }
                group.addTask {
                    while true {
                        try await Task.sleep(for: pingInterval)
                        try await Deadline.run(timeout) {
                            for try await _ in try await connection.query("SELECT 1", logger: logger) {}
                        }
                    }
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        }
    }
}
