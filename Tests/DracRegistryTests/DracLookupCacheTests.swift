@testable import DracRegistryService
import Testing

/// The shared backend's local cache: at most the TTL, positive answers never past the expiry
/// the database gave, negative ones only while the change feed is heard, nothing from a
/// question that crossed a change, bounded in size.
@Suite("drac lookup cache")
struct DracLookupCacheTests {
    @Test("an answer is kept for the TTL or the entry's remaining time, whichever is shorter, counted from the question")
    func bounds() {
        let cache = DracLookupCache(ttl: .seconds(5))
        let asked = ContinuousClock.now
        cache.put("192.0.2.1", .authorized(expires: 100), remaining: .seconds(60), asked: asked, epoch: cache.epoch)
        cache.put("192.0.2.2", .authorized(expires: 200), remaining: .seconds(2), asked: asked, epoch: cache.epoch)
        #expect(cache.get("192.0.2.1", now: asked + .seconds(4)) == .authorized(expires: 100))
        #expect(cache.get("192.0.2.1", now: asked + .seconds(5)) == nil)
        #expect(cache.get("192.0.2.2", now: asked + .milliseconds(1999)) == .authorized(expires: 200))
        #expect(cache.get("192.0.2.2", now: asked + .seconds(2)) == nil)
        #expect(cache.get("192.0.2.3", now: asked) == nil)
    }

    @Test("TTL 0 or an entry with no time left keeps nothing; a change forgets its address, a flush everything")
    func nothingKept() {
        let asked = ContinuousClock.now
        let off = DracLookupCache(ttl: .zero)
        off.setHearing(true)
        off.put("192.0.2.1", .authorized(expires: 100), remaining: .seconds(60), asked: asked, epoch: off.epoch)
        off.put("192.0.2.9", .unknown, asked: asked, epoch: off.epoch)
        #expect(off.get("192.0.2.1", now: asked) == nil)
        #expect(off.get("192.0.2.9", now: asked) == nil)
        let cache = DracLookupCache(ttl: .seconds(5))
        cache.put("192.0.2.1", .authorized(expires: 100), remaining: .zero, asked: asked, epoch: cache.epoch)
        #expect(cache.get("192.0.2.1", now: asked) == nil)
        cache.put("192.0.2.2", .authorized(expires: 100), remaining: .seconds(9), asked: asked, epoch: cache.epoch)
        cache.put("192.0.2.3", .authorized(expires: 100), remaining: .seconds(9), asked: asked, epoch: cache.epoch)
        cache.changed("192.0.2.2")
        #expect(cache.get("192.0.2.2", now: asked) == nil)
        #expect(cache.get("192.0.2.3", now: asked) == .authorized(expires: 100))
        cache.changedAll()
        #expect(cache.get("192.0.2.3", now: asked) == nil)
    }

    @Test("a negative answer is kept only while the feed is heard, and all answers go when it starts or stops")
    func negativeNeedsTheFeed() {
        let cache = DracLookupCache(ttl: .seconds(5))
        let asked = ContinuousClock.now
        cache.put("192.0.2.9", .unknown, asked: asked, epoch: cache.epoch)
        #expect(cache.get("192.0.2.9", now: asked) == nil) // not hearing: not kept
        cache.setHearing(true)
        cache.put("192.0.2.9", .unknown, asked: asked, epoch: cache.epoch)
        cache.put("192.0.2.1", .authorized(expires: 100), remaining: .seconds(9), asked: asked, epoch: cache.epoch)
        #expect(cache.get("192.0.2.9", now: asked + .seconds(4)) == .unknown)
        #expect(cache.get("192.0.2.9", now: asked + .seconds(5)) == nil) // the TTL bounds negatives too
        cache.put("192.0.2.9", .unknown, asked: asked, epoch: cache.epoch)
        cache.setHearing(false) // feed lost: notifications may have been missed
        #expect(cache.get("192.0.2.9", now: asked) == nil)
        #expect(cache.get("192.0.2.1", now: asked) == nil)
    }

    @Test("an answer to a question asked before a change is not kept (it may describe the table before it)")
    func crossedAChange() {
        let cache = DracLookupCache(ttl: .seconds(5))
        cache.setHearing(true)
        let asked = ContinuousClock.now
        let epoch = cache.epoch
        cache.changed("192.0.2.9") // host A's login heard while our question was in flight
        cache.put("192.0.2.9", .unknown, asked: asked, epoch: epoch)
        #expect(cache.get("192.0.2.9", now: asked) == nil)
        cache.put("192.0.2.1", .authorized(expires: 100), remaining: .seconds(9), asked: asked, epoch: epoch)
        #expect(cache.get("192.0.2.1", now: asked) == nil) // a delete may have crossed it
        cache.put("192.0.2.9", .unknown, asked: asked, epoch: cache.epoch)
        #expect(cache.get("192.0.2.9", now: asked) == .unknown)
    }

    @Test("at capacity, stale answers go first, then all of them")
    func capacity() {
        let cache = DracLookupCache(ttl: .seconds(5), capacity: 2)
        let now = ContinuousClock.now
        cache.put("a", .authorized(expires: 1), remaining: .seconds(9), asked: now - .seconds(10), epoch: cache.epoch) // already stale
        cache.put("b", .authorized(expires: 2), remaining: .seconds(9), asked: now, epoch: cache.epoch)
        cache.put("c", .authorized(expires: 3), remaining: .seconds(9), asked: now, epoch: cache.epoch)
        #expect(cache.state.withLock { $0.entries.keys.sorted() } == ["b", "c"])
        cache.put("d", .authorized(expires: 4), remaining: .seconds(9), asked: now, epoch: cache.epoch)
        #expect(cache.state.withLock { $0.entries.keys.sorted() } == ["d"])
    }
}
