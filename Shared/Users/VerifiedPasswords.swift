import Crypto
import Synchronization

/// Passwords verified recently, per user, so a client that logs in every few minutes (POP3
/// polling, a submission client per message) costs one crypt(3) per `ttl` instead of one per
/// login: Dovecot's auth cache, kept for the same reason.
///
/// An entry holds the stored secret the password was checked against, so a password changed in
/// the directory ends it at the next login, and an HMAC-SHA256 of the user name and password
/// under a key drawn at start and kept only in this process's memory, never the password
/// itself. Only successes are kept: a wrong password always pays the full hash and the failure
/// delay, and a right one is checked again once its entry is `ttl` old. At most `capacity`
/// users are kept (expired entries go first, then the oldest).
///
/// What it costs: someone who can read the process's memory gets a fast hash of recent
/// passwords to guess at instead of crypt(3)'s slow one. `ttl` 0 keeps nothing.
public final class VerifiedPasswords: Sendable {
    struct Entry {
        var secret: String
        var mac: [UInt8]
        var at: ContinuousClock.Instant
    }

    public let ttl: Duration
    public let capacity: Int
    /// The HMAC key, drawn at start (SymmetricKey itself is not Sendable).
    let key: [UInt8] = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
    let now: @Sendable () -> ContinuousClock.Instant
    let entries = Mutex<[String: Entry]>([:])

    public init(ttl: Duration, capacity: Int = 10_000, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.ttl = ttl
        self.capacity = max(1, capacity)
        self.now = now
    }

    /// Whether `password` was verified for `user`'s present secret within `ttl`.
    public func remembers(_ user: PasswdFile.User, password: String) -> Bool {
        guard ttl > .zero else { return false }
        let mac = self.mac(user.name, password)
        let at = now()
        return entries.withLock { map in
            guard let entry = map[user.name] else { return false }
            guard at - entry.at < ttl, entry.secret == Self.secret(of: user) else {
                map[user.name] = nil
                return false
            }
            return PasswdFile.constantTimeEqual(entry.mac, mac)
        }
    }

    /// Keeps a password just verified for `user` by the full check.
    public func remember(_ user: PasswdFile.User, password: String) {
        guard ttl > .zero else { return }
        let entry = Entry(secret: Self.secret(of: user), mac: mac(user.name, password), at: now())
        entries.withLock { map in
            if map[user.name] == nil, map.count >= capacity {
                map = map.filter { entry.at - $0.value.at < ttl }
                if map.count >= capacity, let oldest = map.min(by: { $0.value.at < $1.value.at })?.key {
                    map[oldest] = nil
                }
            }
            map[user.name] = entry
        }
    }

    /// Users kept now (for tests and the log).
    public var count: Int { entries.withLock { $0.count } }

    static func secret(of user: PasswdFile.User) -> String { "{\(user.scheme)}\(user.secret)" }

    func mac(_ name: String, _ password: String) -> [UInt8] {
        var message = Array(name.utf8)
        message.append(0)
        message += Array(password.utf8)
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }
}
