#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The registry: client address -> expiry, served from memory, written through to the store.
///
/// A lookup authorizes only while `now < expiry`, exactly, whether or not a sweep has run;
/// sweeps only reclaim space. Adds refresh the window. Time comes from `clock` (epoch seconds)
/// so tests can move it.
public final class DracRegistry: Sendable {
    public struct Entry: Sendable, Equatable {
        public var address: String
        public var expires: Int64
    }

    public let window: Int64
    let store: DracStore
    let clock: @Sendable () -> Int64
    let entries: Mutex<[String: Int64]>
    /// Serializes writers, so the store and the map change in the same order.
    let writer = Mutex(())

    /// Loads the store, dropping entries already expired.
    public init(store: DracStore, window: Duration, clock: @escaping @Sendable () -> Int64 = DracRegistry.epochSeconds) throws {
        self.store = store
        self.window = window.components.seconds
        self.clock = clock
        let now = clock()
        let loaded = try store.load()
        let expired = loaded.filter { $0.value <= now }.map(\.key)
        try store.delete(expired)
        entries = Mutex(loaded.filter { $0.value > now })
    }

    public static func epochSeconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec)
    }

    /// Adds or refreshes `address` for the window; returns the new expiry. Durable on return.
    @discardableResult
    public func add(_ address: DracAddress) throws -> Int64 {
        try writer.withLock { _ in
            let expires = clock() + window
            try store.put(address.text, expires: expires)
            entries.withLock { $0[address.text] = expires }
            return expires
        }
    }

    /// The expiry of an unexpired entry, or nil: nil means "not authorized".
    public func lookup(_ address: DracAddress) -> Int64? {
        let now = clock()
        return entries.withLock { map in
            guard let expires = map[address.text], expires > now else { return nil }
            return expires
        }
    }

    /// Removes `address`; returns whether it was there (expired or not).
    @discardableResult
    public func delete(_ address: DracAddress) throws -> Bool {
        try writer.withLock { _ in
            try store.delete([address.text])
            return entries.withLock { $0.removeValue(forKey: address.text) != nil }
        }
    }

    /// Removes every entry; returns how many there were.
    @discardableResult
    public func flush() throws -> Int {
        try writer.withLock { _ in
            let all = entries.withLock { map -> [String] in
                defer { map.removeAll() }
                return Array(map.keys)
            }
            try store.delete(all)
            return all.count
        }
    }

    /// Deletes expired entries; returns how many.
    @discardableResult
    public func sweep() throws -> Int {
        try writer.withLock { _ in
            let now = clock()
            let expired = entries.withLock { map -> [String] in
                let gone = map.filter { $0.value <= now }.map(\.key)
                for key in gone { map[key] = nil }
                return gone
            }
            try store.delete(expired)
            return expired.count
        }
    }

    /// Unexpired entries, sorted by address.
    public func list() -> [Entry] {
        let now = clock()
        return entries.withLock { map in
            map.filter { $0.value > now }.map { Entry(address: $0.key, expires: $0.value) }.sorted { $0.address < $1.address }
        }
    }
}
