import Foundation
import Testing
import TestSupport
import Users

/// The verified-password cache (pop3.auth_cache_ttl) behind POP3 and submission logins.
@Suite("verified passwords (auth cache)")
struct VerifiedPasswordsTests {
    final class Clock: @unchecked Sendable {
        let now = Locked(ContinuousClock.now)
        func advance(_ by: Duration) { now.withLock { $0 += by } }
        var read: @Sendable () -> ContinuousClock.Instant { { self.now.withLock { $0 } } }
    }

    /// Hashed once: SHA512-CRYPT is slow on purpose.
    static let hashed = PasswdFile.hash("secret1")!
    static func record(_ name: String = "you", hash: String = hashed) -> PasswdFile.User {
        PasswdFile.parse("\(name):\(hash)\n", file: "test").0[name]!
    }

    func guarded(_ clock: Clock, ttl: Duration = .seconds(3600), maxFailures: Int = 3) -> LoginGuard {
        LoginGuard(limits: .init(maxFailures: maxFailures, window: .seconds(60), failureDelay: .zero, authCacheTTL: ttl), now: clock.read)
    }

    @Test("a right password is remembered for the same stored hash; a wrong one is checked in full and never kept")
    func remembered() async {
        let clock = Clock()
        let logins = guarded(clock)
        let you = Self.record()
        #expect(await logins.attempt(user: "you", client: "192.0.2.1", .password(you, "wrong")) == .failure)
        #expect(logins.verified.count == 0)
        #expect(await logins.attempt(user: "you", client: "192.0.2.1", .password(you, "secret1")) == .success)
        #expect(logins.verified.remembers(you, password: "secret1"))
        #expect(!logins.verified.remembers(you, password: "secret2"))
        #expect(!logins.verified.remembers(Self.record("other"), password: "secret1"))
        // A wrong password for a remembered user still fails (and pays the full check).
        #expect(await logins.attempt(user: "you", client: "192.0.2.1", .password(you, "secret2")) == .failure)
        #expect(await logins.attempt(user: "you", client: "192.0.2.1", .password(you, "secret1")) == .success)
    }

    @Test("a remembered password passes without the hash; throttling still comes first")
    func skipsHash() async {
        let clock = Clock()
        let logins = guarded(clock, maxFailures: 2)
        let outcome = await logins.attempt(user: "you", client: "192.0.2.1", remembered: { true }, verify: {
            Issue.record("the full check ran for a remembered password")
            return false
        })
        #expect(outcome == .success)
        for _ in 0..<2 { #expect(await logins.attempt(user: "x", client: "192.0.2.9", verify: { false }) == .failure) }
        #expect(await logins.attempt(user: "you", client: "192.0.2.9", remembered: { true }, verify: { true }) == .throttled)
    }

    @Test("a changed password in the directory ends the entry; so does its age")
    func changedAndExpired() async {
        let clock = Clock()
        let logins = guarded(clock, ttl: .seconds(60))
        let you = Self.record()
        #expect(await logins.attempt(user: "you", client: "192.0.2.1", .password(you, "secret1")) == .success)
        let changed = Self.record(hash: PasswdFile.hash("secret1")!) // same password, new salt: a new stored hash
        #expect(!logins.verified.remembers(changed, password: "secret1"))
        #expect(!logins.verified.remembers(you, password: "secret1"), "the entry was dropped")
        #expect(await logins.attempt(user: "you", client: "192.0.2.1", .password(you, "secret1")) == .success)
        clock.advance(.seconds(59))
        #expect(logins.verified.remembers(you, password: "secret1"))
        clock.advance(.seconds(1))
        #expect(!logins.verified.remembers(you, password: "secret1"))
    }

    @Test("ttl 0 keeps nothing; plaintext (APOP) records are never kept")
    func off() async {
        let clock = Clock()
        let logins = guarded(clock, ttl: .zero)
        #expect(await logins.attempt(user: "you", client: "192.0.2.1", .password(Self.record(), "secret1")) == .success)
        #expect(logins.verified.count == 0)
        let on = guarded(clock)
        #expect(await on.attempt(user: "user2", client: "192.0.2.1", .password(Self.record("user2", hash: "{PLAIN}apop"), "apop")) == .success)
        #expect(on.verified.count == 0)
    }

    @Test("at most capacity users: expired entries go first, then the oldest")
    func bounded() {
        let clock = Clock()
        let cache = VerifiedPasswords(ttl: .seconds(100), capacity: 3, now: clock.read)
        let users = (0..<5).map { Self.record("u\($0)") }
        for user in users.prefix(3) {
            cache.remember(user, password: "secret1")
            clock.advance(.seconds(10))
        }
        cache.remember(users[3], password: "secret1")
        #expect(cache.count == 3)
        #expect(!cache.remembers(users[0], password: "secret1"), "the oldest went")
        clock.advance(.seconds(75)) // u1 is now 100 s old: expired
        cache.remember(users[4], password: "secret1")
        #expect(cache.count == 3)
        #expect(cache.remembers(users[2], password: "secret1") && cache.remembers(users[3], password: "secret1")
                && cache.remembers(users[4], password: "secret1"))
    }
}
