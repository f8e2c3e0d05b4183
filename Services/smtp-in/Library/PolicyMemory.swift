import IPC
import Synchronization

/// relay-policy's verdicts that smtp-in gives again without asking: an accepted client's connect
/// verdict (by address), a sender's MAIL verdict, and a recipient's RCPT verdict for one client
/// (address and relay flags), each for as long as relay-policy said it may be reused
/// (`reuse_ms`: no longer than its maps' check interval, a connect verdict no longer than the
/// TTL of the DNS answers behind it; never a RCPT that drac decided nor a refusal to relay).
/// Every verdict names the maps, aliases and users it was decided from (`maps_epoch`,
/// `maps_generation`); one from others makes smtp-in forget everything it holds. So a change to
/// any of them is applied within relay-policy's check interval plus at most one more, as a
/// sendmail reading its maps on every command would after `makemap` (which the seed runs by hand).
///
/// Refusals at connect are never held (relay-policy logs each refused connection, which
/// fail2ban reads), nor temporary answers. At most `maxHeld` of each kind: a client inventing
/// senders only makes room for its own.
final class PolicyMemory: Sendable {
    struct Held {
        var verdict: Mailstack_Ipc_PolicyVerdict
        var until: ContinuousClock.Instant
        /// MAIL: the largest SIZE= the verdict was given for (relay-policy refuses above its limit).
        var size: UInt64 = 0
    }

    struct Maps: Equatable {
        var epoch: UInt64
        var generation: Int64
    }

    struct State {
        var maps: Maps?
        var clients: [String: Held] = [:]
        var senders: [String: Held] = [:]
        var recipients: [String: Held] = [:]
    }

    static let maxHeld = 1024
    let state = Mutex(State())
    let now: @Sendable () -> ContinuousClock.Instant

    init(now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.now = now
    }

    /// The connect verdict held for `address`, if any.
    func client(_ address: String) -> Mailstack_Ipc_PolicyVerdict? {
        held(address, in: \.clients)?.verdict
    }

    /// The MAIL verdict held for `sender` at `size`, if any.
    func sender(_ sender: String, size: UInt64) -> Mailstack_Ipc_PolicyVerdict? {
        held(sender, in: \.senders).flatMap { size <= $0.size ? $0.verdict : nil }
    }

    /// The RCPT verdict held for `recipient` from `client`, if any.
    func recipient(_ recipient: String, client: Mailstack_Ipc_PolicyClient) -> Mailstack_Ipc_PolicyVerdict? {
        held(Self.key(recipient, client), in: \.recipients)?.verdict
    }

    /// What `table` holds at `key` while it lasts; an expired entry is dropped.
    private func held(_ key: String, in table: WritableKeyPath<State, [String: Held]> & Sendable) -> Held? {
        let now = self.now()
        return state.withLock { s in
            guard let held = s[keyPath: table][key] else { return nil }
            guard held.until > now else { s[keyPath: table][key] = nil; return nil }
            return held
        }
    }

    /// A RCPT verdict relay-policy gave for `recipient` from `client`.
    func learn(recipient: String, client: Mailstack_Ipc_PolicyClient, _ verdict: Mailstack_Ipc_PolicyVerdict) {
        let key = Self.key(recipient, client)
        learn(verdict) { s, until in
            Self.put(Held(verdict: verdict, until: until), at: key, in: &s.recipients)
        }
    }

    /// A RCPT verdict depends on the recipient and on what relay-policy knows of the client: its
    /// address and whether it may relay by access or by authentication.
    static func key(_ recipient: String, _ client: Mailstack_Ipc_PolicyClient) -> String {
        "\(recipient)\u{0}\(client.address)\u{0}\(client.relayByAccess ? 1 : 0)\(client.authenticated ? 1 : 0)"
    }

    /// A connect verdict relay-policy gave for `address`.
    func learn(client address: String, _ verdict: Mailstack_Ipc_PolicyVerdict) {
        let accepted = verdict.action == .accept || verdict.action == .relay
        learn(verdict) { s, until in
            guard accepted else { return }
            Self.put(Held(verdict: verdict, until: until), at: address, in: &s.clients)
        }
    }

    /// A MAIL verdict relay-policy gave for `sender` at `size`.
    func learn(sender: String, size: UInt64, _ verdict: Mailstack_Ipc_PolicyVerdict) {
        learn(verdict) { s, until in
            // The larger SIZE= of two accepted askings covers both.
            let size = max(size, s.senders[sender].map { $0.verdict == verdict ? $0.size : 0 } ?? 0)
            Self.put(Held(verdict: verdict, until: until, size: size), at: sender, in: &s.senders)
        }
    }

    /// Forgets everything when `verdict` comes from other maps than what is held; then, when
    /// it may be reused, has `keep` hold it.
    private func learn(_ verdict: Mailstack_Ipc_PolicyVerdict, keep: (inout State, ContinuousClock.Instant) -> Void) {
        guard verdict.mapsEpoch != 0 else { return } // a relay-policy that does not say
        let maps = Maps(epoch: verdict.mapsEpoch, generation: verdict.mapsGeneration)
        let until = now() + .milliseconds(verdict.reuseMs)
        state.withLock { s in
            if s.maps != maps {
                // A verdict from older maps than those held is not kept either (answers cross).
                let older = s.maps.map { $0.epoch == maps.epoch && maps.generation < $0.generation } ?? false
                guard !older else { return }
                s = State(maps: maps)
            }
            if verdict.reuseMs > 0 { keep(&s, until) }
        }
    }

    private static func put(_ held: Held, at key: String, in table: inout [String: Held]) {
        if table[key] == nil, table.count >= maxHeld { table.removeAll(keepingCapacity: true) }
        table[key] = held
    }
}
