import Synchronization

/// Answers of the shared table kept on this host, for at most `ttl` each.
///
/// * A positive answer ("authorized until E") is never kept past E as the database counted it.
/// * A negative answer ("not authorized") is kept only while this host hears every host's
///   changes (`DracChangeFeed` listening): a login anywhere then drops it here at once. When
///   the feed is lost, every answer is dropped and no negative is kept until it is back.
/// * A change heard or made (`changed`, `changedAll`) drops the address's answer and starts a
///   new epoch: an answer to a question asked in an older epoch is not kept, so a question
///   that crossed a change in flight cannot keep the state from before it.
/// * Without the feed, a delete or flush made on another host is seen at most `ttl` later;
///   this host's own edits drop their answers at once.
///
/// Bounded: when `capacity` answers are held, the stale ones go, and if none is stale, all.
final class DracLookupCache: Sendable {
    enum Answer: Equatable, Sendable {
        case authorized(expires: Int64)
        case unknown
    }

    struct Entry {
        var answer: Answer
        var until: ContinuousClock.Instant
    }

    struct State {
        var entries: [String: Entry] = [:]
        var epoch: UInt64 = 0
        var hearing = false
    }

    let ttl: Duration
    let capacity: Int
    let state = Mutex(State())

    init(ttl: Duration, capacity: Int = 65_536) {
        self.ttl = ttl
        self.capacity = capacity
    }

    /// The epoch to give `put`: take it before the question is sent.
    var epoch: UInt64 { state.withLock { $0.epoch } }

    var isHearing: Bool { state.withLock { $0.hearing } }

    func get(_ address: String, now: ContinuousClock.Instant = .now) -> Answer? {
        state.withLock { s in
            guard let entry = s.entries[address] else { return nil }
            guard now < entry.until else { s.entries[address] = nil; return nil }
            return entry.answer
        }
    }

    /// Keeps `answer` for `address`. `asked` is when the question was sent (before the database
    /// read its clock) and `epoch` the epoch then; `remaining` is an authorized entry's time
    /// left by the database's clock, so the answer is dropped no later than the entry expires.
    func put(_ address: String, _ answer: Answer, remaining: Duration = .zero, asked: ContinuousClock.Instant, epoch: UInt64) {
        guard ttl > .zero else { return }
        let keep: Duration
        switch answer {
        case .authorized:
            guard remaining > .zero else { return }
            keep = min(ttl, remaining)
        case .unknown:
            keep = ttl
        }
        state.withLock { s in
            guard s.epoch == epoch, answer != .unknown || s.hearing else { return }
            if s.entries.count >= capacity {
                let now = ContinuousClock.now
                s.entries = s.entries.filter { now < $0.value.until }
                if s.entries.count >= capacity { s.entries.removeAll() }
            }
            s.entries[address] = Entry(answer: answer, until: asked + keep)
        }
    }

    /// `address` was added or removed (here or on another host).
    func changed(_ address: String) {
        state.withLock { s in
            s.epoch &+= 1
            s.entries[address] = nil
        }
    }

    /// Every entry may have changed (a flush).
    func changedAll() {
        state.withLock { s in
            s.epoch &+= 1
            s.entries.removeAll()
        }
    }

    /// The change feed started or stopped hearing: nothing kept before counts.
    func setHearing(_ hearing: Bool) {
        state.withLock { s in
            s.epoch &+= 1
            s.entries.removeAll()
            s.hearing = hearing
        }
    }
}
