import Logging
import NIOSSL
import PostgresNIO
import Synchronization

/// Mailboxes held across hosts: a POP3 session takes a PostgreSQL session-level advisory lock
/// on a connection of its own and keeps that connection for the session's life. Another host's
/// `pg_try_advisory_lock` on the same key fails at once: `-ERR [IN-USE]`. The session ends
/// (QUIT, a lost client, a killed pop3): the connection closes and the server drops the lock.
/// A host that dies without closing it (power, network) holds the lock until the server sees
/// the connection gone: the connection asks for TCP keepalives (`keepaliveSeconds` idle, then 3
/// probes 10 s apart), so about 60 s.
///
/// The key is the 64-bit `hashtextextended('mailstack-pop3:' || user, 0)`: two users share a
/// key with odds of about n²/2⁶⁵; the worst that does is one `[IN-USE]` too many.
public final class SharedMailboxLocks: Sendable {
    public enum Outcome: Sendable, Equatable {
        case taken
        case inUse
        case unavailable(String)
    }

    let configuration: PostgresConnection.Configuration
    let timeout: Duration
    let logger: Logger
    let held = Mutex<[String: PostgresConnection]>([:])
    let nextID = Atomic<Int>(1)

    static let keepaliveSeconds = 30

    public init(settings: DatabaseSettings, logger: Logger) throws {
        var configuration: PostgresConnection.Configuration
        if settings.host.hasPrefix("/") {
            configuration = .init(unixSocketPath: "\(settings.host)/.s.PGSQL.\(settings.port)", username: settings.user,
                                  password: settings.password, database: settings.database)
        } else {
            let tls: PostgresConnection.Configuration.TLS =
                settings.requireTLS ? .require(try NIOSSLContext(configuration: .makeClientConfiguration())) : .disable
            configuration = .init(host: settings.host, port: settings.port, username: settings.user, password: settings.password,
                                  database: settings.database, tls: tls)
        }
        configuration.options.connectTimeout = .milliseconds(Int64(settings.timeout / .milliseconds(1)))
        configuration.options.additionalStartupParameters = [
            ("tcp_keepalives_idle", "\(Self.keepaliveSeconds)"), ("tcp_keepalives_interval", "10"), ("tcp_keepalives_count", "3"),
            ("application_name", "mailstack-pop3"),
        ]
        self.configuration = configuration
        self.timeout = settings.timeout
        self.logger = logger
    }

    /// Takes `user`'s mailbox for this session, or says who has it or that the database
    /// cannot say (within the deadline).
    public func acquire(_ user: String) async -> Outcome {
        let configuration = self.configuration
        let logger = self.logger
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        let connection: PostgresConnection
        do {
            connection = try await Deadline.run(timeout, late: { Self.close($0) }) {
                try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger)
            }
        } catch is Deadline.Passed {
            return .unavailable("mailbox lock: no connection within \(timeout)")
        } catch {
            return .unavailable("mailbox lock: \(error)")
        }
        do {
            let key = "mailstack-pop3:" + user
            let taken = try await Deadline.run(timeout) { () -> Bool in
                let rows = try await connection.query("SELECT pg_try_advisory_lock(hashtextextended(\(key), 0))", logger: logger)
                for try await value in rows.decode(Bool.self) { return value }
                return false
            }
            guard taken else {
                Self.close(connection)
                return .inUse
            }
            let replaced = held.withLock { map -> PostgresConnection? in
                defer { map[user] = connection }
                return map[user]
            }
            if let replaced { Self.close(replaced) }
            return .taken
        } catch {
            Self.close(connection)
            return .unavailable("mailbox lock: \(error is Deadline.Passed ? "no answer within \(timeout)" : "\(error)")")
        }
    }

    /// Gives `user`'s mailbox back: its connection closes, and the lock with it.
    public func release(_ user: String) {
        if let connection = held.withLock({ $0.removeValue(forKey: user) }) { Self.close(connection) }
    }

    static func close(_ connection: PostgresConnection) {
        // The connection must live until it is closed (PostgresNIO checks that it is).
        connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }
}
