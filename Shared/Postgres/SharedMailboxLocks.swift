import Logging
import PostgresNIO
import Synchronization

/// Mailboxes held across hosts: a POP3 session takes a PostgreSQL session-level advisory lock
/// on a connection of its own and keeps that connection for the session's life. Another host's
/// `pg_try_advisory_lock` on the same key fails at once: `-ERR [IN-USE]`. The session ends
/// (QUIT, a lost client, a killed pop3): the connection closes and the server drops the lock.
/// A host that dies without closing it (power, network) holds the lock until the server sees
/// the connection gone (`DedicatedConnection`'s keepalives: about 60 s).
///
/// The key is the 64-bit `hashtextextended('mailstack-pop3:' || user, 0)`: two users share a
/// key with odds of about n²/2⁶⁵; the worst that does is one `[IN-USE]` too many.
public final class SharedMailboxLocks: Sendable {
    public enum Outcome: Sendable, Equatable {
        case taken
        case inUse
        case unavailable(String)
    }

    let connections: DedicatedConnection
    let held = Mutex<[String: PostgresConnection]>([:])
    let nextID = Atomic<Int>(1)

    public init(settings: DatabaseSettings, logger: Logger) throws {
        connections = try DedicatedConnection(settings: settings, applicationName: "mailstack-pop3", logger: logger)
    }

    /// Locks still held when the holder goes (a service stopping, a test's host) are given back:
    /// a PostgresConnection must be closed before it is released (PostgresNIO asserts it).
    deinit {
        for connection in held.withLock({ $0.values }) { Self.close(connection) }
    }

    /// Takes `user`'s mailbox for this session, or says who has it or that the database
    /// cannot say (within the deadline).
    public func acquire(_ user: String) async -> Outcome {
        let logger = connections.logger
        let timeout = connections.timeout
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        let connection: PostgresConnection
        do {
            connection = try await connections.connect(id: id)
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

    static func close(_ connection: PostgresConnection) { DedicatedConnection.close(connection) }
}
