import NIOPosix
import Synchronization
import Timing

/// What stands between a password guesser and the passwd-file, for POP3 logins and submission
/// AUTH alike (one type, one behaviour in both services):
///
/// * Failed attempts are counted per client (an IPv6 /64 is one client: the caller passes
///   `ClientGroup.key`) and per user name, within `window`. A client with `maxFailures`
///   failures is refused without a password check until they age out; so is a user name with
///   `maxUserFailures`, whichever client tries it (a botnet spreading guesses over addresses).
///   A success clears only that user's count, never the client's: one valid account does not
///   buy unlimited guesses at others.
/// * Every failure is answered after `failureDelay`, so each guess costs the guesser time.
/// * Password hashes (crypt(3) is slow on purpose) run on NIO's blocking thread pool, never on
///   the event loops, and at most `maxPending` checks wait at once; beyond that the attempt is
///   refused as temporarily unavailable rather than queued without bound.
/// * A password verified within `authCacheTTL` for the same stored secret passes without the
///   hash (`VerifiedPasswords`); the throttles above still come first.
public final class LoginGuard: Sendable {
    public enum Outcome: Sendable, Equatable {
        case success
        case failure
        /// Too many recent failures for this client or user name: not checked.
        case throttled
        /// Too many checks waiting: not checked.
        case busy
    }

    public struct Limits: Sendable {
        public var maxFailures: Int
        public var maxUserFailures: Int
        public var window: Duration
        public var failureDelay: Duration
        public var maxPending: Int
        /// How long a verified password is remembered (0: not at all).
        public var authCacheTTL: Duration

        public init(maxFailures: Int, maxUserFailures: Int? = nil, window: Duration, failureDelay: Duration, maxPending: Int = 64,
                    authCacheTTL: Duration = .zero) {
            self.maxFailures = maxFailures
            self.maxUserFailures = maxUserFailures ?? maxFailures * 4
            self.window = window
            self.failureDelay = failureDelay
            self.maxPending = maxPending
            self.authCacheTTL = authCacheTTL
        }
    }

    /// What a login offers: a password to check against the directory's record (nil: no such
    /// user), or another check (APOP's digest) run as it is.
    public enum Proof: Sendable {
        case password(PasswdFile.User?, String)
        case check(@Sendable () -> Bool)
    }

    struct State {
        var byClient: [String: [ContinuousClock.Instant]] = [:]
        var byUser: [String: [ContinuousClock.Instant]] = [:]
        var pending = 0
    }

    public let limits: Limits
    let state = Mutex(State())
    let now: @Sendable () -> ContinuousClock.Instant
    let pool: NIOThreadPool
    public let verified: VerifiedPasswords

    public init(limits: Limits, pool: NIOThreadPool = .singleton, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.limits = limits
        self.pool = pool
        self.now = now
        verified = VerifiedPasswords(ttl: limits.authCacheTTL, now: now)
    }

    /// Checks a login attempt of `user` from `client` offering `proof`.
    public func attempt(user: String, client: String, _ proof: Proof) async -> Outcome {
        switch proof {
        case let .check(verify):
            return await attempt(user: user, client: client, verify: verify)
        case let .password(record, password):
            let verified = self.verified
            return await attempt(user: user, client: client, remembered: {
                record.map { verified.remembers($0, password: password) } ?? false
            }, verify: {
                let ok = PasswdFile.verify(record, password: password)
                if ok, let record, record.apopSecret == nil { verified.remember(record, password: password) }
                return ok
            })
        }
    }

    /// Checks a login attempt of `user` from `client` with `verify` (the password comparison,
    /// run off the event loops). Failures and throttled attempts return after the failure delay.
    /// `remembered` (cheap, run here) may pass the attempt without `verify` once the throttles
    /// have let it through.
    public func attempt(user: String, client: String, remembered: () -> Bool = { false },
                        verify: @escaping @Sendable () -> Bool) async -> Outcome {
        let outcome = await check(user: user, client: client, remembered: remembered, verify: verify)
        if outcome != .success { try? await Task.sleep(for: limits.failureDelay) }
        return outcome
    }

    func check(user: String, client: String, remembered: () -> Bool, verify: @escaping @Sendable () -> Bool) async -> Outcome {
        let at = now()
        let admitted = state.withLock { s -> Outcome? in
            if Self.recent(&s.byClient, client, at, limits.window) >= limits.maxFailures
                || Self.recent(&s.byUser, user, at, limits.window) >= limits.maxUserFailures {
                return .throttled
            }
            guard s.pending < limits.maxPending else { return .busy }
            s.pending += 1
            return nil
        }
        if let admitted {
            // A throttled client keeps itself throttled; the user name is not charged, or a
            // guesser could keep its owner locked out for as long as it likes.
            if admitted == .throttled { record(failureOf: nil, from: client) }
            return admitted
        }
        let ok = remembered() ? true : (try? await pool.runIfActiveHere { verify() }) ?? false
        state.withLock { $0.pending -= 1 }
        if ok {
            state.withLock { _ = $0.byUser.removeValue(forKey: user) }
            return .success
        }
        record(failureOf: user, from: client)
        return .failure
    }

    /// Counts a failure that did not go through `attempt` (a malformed AUTH exchange).
    public func record(failureOf user: String?, from client: String) {
        let at = now()
        let keep = max(limits.maxFailures, limits.maxUserFailures)
        state.withLock { s in
            Self.append(at, to: &s.byClient, client, keep: keep, window: limits.window)
            if let user { Self.append(at, to: &s.byUser, user, keep: keep, window: limits.window) }
        }
    }

    /// Keys remembered before expired ones are swept from a whole map (a guesser trying
    /// random user names or addresses must not grow it without bound).
    static let sweepAbove = 50_000

    static func append(_ at: ContinuousClock.Instant, to map: inout [String: [ContinuousClock.Instant]], _ key: String,
                       keep: Int, window: Duration) {
        if map.count > sweepAbove {
            map = map.filter { _, times in times.last.map { at - $0 < window } ?? false }
        }
        var times = map[key, default: []]
        times.append(at)
        if times.count > keep { times.removeFirst(times.count - keep) }
        map[key] = times
    }

    /// Failures of `key` within the window (older ones are forgotten).
    static func recent(_ map: inout [String: [ContinuousClock.Instant]], _ key: String, _ at: ContinuousClock.Instant,
                       _ window: Duration) -> Int {
        guard let times = map[key] else { return 0 }
        let kept = times.filter { at - $0 < window }
        map[key] = kept.isEmpty ? nil : kept
        return kept.count
    }
}
