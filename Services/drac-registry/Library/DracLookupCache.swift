import Synchronization

/// Positive lookups of the shared table, kept on this host for at most `ttl` and never past
/// the entry's expiry as the database counted it. Only positive answers are kept: a login on
/// another host is seen at the next lookup; a delete or flush on another host is seen at most
/// `ttl` later (this host's own edits drop their entries at once). Bounded: when `capacity`
/// entries are held, the stale ones go, and if none is stale, all of them.
final class DracLookupCache: Sendable {
    struct Hit { var expires: Int64; var until: ContinuousClock.Instant }

    let ttl: Duration
    let capacity: Int
    let hits = Mutex<[String: Hit]>([:])

    init(ttl: Duration, capacity: Int = 65_536) {
        self.ttl = ttl
        self.capacity = capacity
    }

    func get(_ address: String, now: ContinuousClock.Instant = .now) -> Int64? {
        hits.withLock { map in
            guard let hit = map[address] else { return nil }
            guard now < hit.until else { map[address] = nil; return nil }
            return hit.expires
        }
    }

    /// Keeps `expires` for `address`. `asked` is when the query was sent (before the database
    /// read its clock), `remaining` the entry's time left by the database's clock: the answer
    /// is dropped no later than the entry expires.
    func put(_ address: String, expires: Int64, remaining: Duration, asked: ContinuousClock.Instant) {
        guard ttl > .zero, remaining > .zero else { return }
        let until = asked + min(ttl, remaining)
        hits.withLock { map in
            if map.count >= capacity {
                let now = ContinuousClock.now
                map = map.filter { now < $0.value.until }
                if map.count >= capacity { map.removeAll() }
            }
            map[address] = Hit(expires: expires, until: until)
        }
    }

    func remove(_ address: String) { _ = hits.withLock { $0.removeValue(forKey: address) } }
    func removeAll() { hits.withLock { $0.removeAll() } }
}
