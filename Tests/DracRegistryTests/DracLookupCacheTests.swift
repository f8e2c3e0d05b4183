@testable import DracRegistryService
import Testing

/// The shared backend's local cache: positive answers only, at most the TTL, never past the
/// expiry the database gave, bounded in size.
@Suite("drac lookup cache")
struct DracLookupCacheTests {
    @Test("an answer is kept for the TTL or the entry's remaining time, whichever is shorter, counted from the question")
    func bounds() {
        let cache = DracLookupCache(ttl: .seconds(5))
        let asked = ContinuousClock.now
        cache.put("192.0.2.1", expires: 100, remaining: .seconds(60), asked: asked)
        cache.put("192.0.2.2", expires: 200, remaining: .seconds(2), asked: asked)
        #expect(cache.get("192.0.2.1", now: asked + .seconds(4)) == 100)
        #expect(cache.get("192.0.2.1", now: asked + .seconds(5)) == nil)
        #expect(cache.get("192.0.2.2", now: asked + .milliseconds(1999)) == 200)
        #expect(cache.get("192.0.2.2", now: asked + .seconds(2)) == nil)
        #expect(cache.get("192.0.2.3", now: asked) == nil)
    }

    @Test("TTL 0 or an entry with no time left keeps nothing; remove and removeAll forget")
    func nothingKept() {
        let asked = ContinuousClock.now
        let off = DracLookupCache(ttl: .zero)
        off.put("192.0.2.1", expires: 100, remaining: .seconds(60), asked: asked)
        #expect(off.get("192.0.2.1", now: asked) == nil)
        let cache = DracLookupCache(ttl: .seconds(5))
        cache.put("192.0.2.1", expires: 100, remaining: .zero, asked: asked)
        #expect(cache.get("192.0.2.1", now: asked) == nil)
        cache.put("192.0.2.2", expires: 100, remaining: .seconds(9), asked: asked)
        cache.put("192.0.2.3", expires: 100, remaining: .seconds(9), asked: asked)
        cache.remove("192.0.2.2")
        #expect(cache.get("192.0.2.2", now: asked) == nil)
        #expect(cache.get("192.0.2.3", now: asked) == 100)
        cache.removeAll()
        #expect(cache.get("192.0.2.3", now: asked) == nil)
    }

    @Test("at capacity, stale answers go first, then all of them")
    func capacity() {
        let cache = DracLookupCache(ttl: .seconds(5), capacity: 2)
        let now = ContinuousClock.now
        cache.put("a", expires: 1, remaining: .seconds(9), asked: now - .seconds(10)) // already stale
        cache.put("b", expires: 2, remaining: .seconds(9), asked: now)
        cache.put("c", expires: 3, remaining: .seconds(9), asked: now)
        #expect(cache.hits.withLock { $0.keys.sorted() } == ["b", "c"])
        cache.put("d", expires: 4, remaining: .seconds(9), asked: now)
        #expect(cache.hits.withLock { $0.keys.sorted() } == ["d"])
    }
}
