import Maildir
import MailstackPostgres
import Synchronization

/// One user's mailbox for the length of a session: the messages as they were at login, the
/// ones marked deleted (applied only at QUIT, RFC 1939 UPDATE state), and what was retrieved.
public struct POP3Mailbox: Sendable {
    public let user: String
    public let maildir: Maildir
    public let messages: [Maildir.Message]
    public var deleted: Set<Int> = []
    public var retrieved = (count: 0, octets: 0)

    public init(user: String, maildir: Maildir, messages: [Maildir.Message]) {
        self.user = user
        self.maildir = maildir
        self.messages = messages
    }

    /// The message numbered `number` (1-based) unless deleted.
    public func message(_ number: Int) -> Maildir.Message? {
        guard number >= 1, number <= messages.count, !deleted.contains(number) else { return nil }
        return messages[number - 1]
    }

    public var live: [(number: Int, message: Maildir.Message)] {
        messages.enumerated().filter { !deleted.contains($0.offset + 1) }.map { ($0.offset + 1, $0.element) }
    }

    public var stat: (count: Int, octets: Int) { live.reduce((0, 0)) { ($0.0 + 1, $0.1 + $1.message.wireSize) } }

    /// A UIDL (RFC 1939: 1 to 70 characters 0x21-0x7E), stable across sessions and restarts:
    /// the one an imported message kept from qpopper (its name's `U=` field, written only by
    /// `mailstack import-mbox`; never taken from a message's own header, which any sender could
    /// forge), else the Maildir unique name up to its first ','. See `Maildir.uidl(ofUnique:)`.
    public static func uidl(_ message: Maildir.Message) -> String { Maildir.uidl(ofUnique: message.uniqueName) }
}

/// Which mailboxes are open: one session per mailbox (RFC 1939 section 8's exclusive lock), on
/// this host and, with `shared` (pop3.mailbox_lock: pgsql), on every host of the database.
public final class POP3MailboxLocks: Sendable {
    let held = Mutex(Set<String>())
    let shared: SharedMailboxLocks?
    public init(shared: SharedMailboxLocks? = nil) { self.shared = shared }

    /// True if this host's lock was taken.
    public func acquire(_ user: String) -> Bool { held.withLock { $0.insert(user).inserted } }

    /// This host's lock, then the other hosts' (`.inUse` when any session holds the mailbox,
    /// `.unavailable` when the database cannot say: the login is then refused for now).
    public func acquireEverywhere(_ user: String) async -> SharedMailboxLocks.Outcome {
        guard acquire(user) else { return .inUse }
        guard let shared else { return .taken }
        let outcome = await shared.acquire(user)
        if outcome != .taken { _ = held.withLock { $0.remove(user) } }
        return outcome
    }

    public func release(_ user: String) {
        _ = held.withLock { $0.remove(user) }
        shared?.release(user)
    }
}
