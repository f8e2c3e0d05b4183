import MailstackMaps

/// Where the registry keeps its entries across restarts. `DracFileStore` is drac's own layout;
/// `DracMemoryStore` serves tests that need no file.
public protocol DracStore: Sendable {
    /// Every stored entry: address text -> expiry (epoch seconds).
    func load() throws -> [String: Int64]
    /// Records (or refreshes) an entry durably before returning.
    func put(_ address: String, expires: Int64) throws
    func delete(_ addresses: [String]) throws
}

/// drac's database: a Berkeley DB btree (dracd's default), key the address as text with no
/// trailing NUL, value the expiry as decimal epoch seconds. A sendmail `Kdrac btree` map can
/// read the same file. Each change is synced to disk before the call returns.
public final class DracFileStore: DracStore {
    let db: BerkeleyDB

    public init(path: String) throws {
        db = try BerkeleyDB(path: path, kind: .btree, mode: .readWrite, permissions: 0o640)
    }

    public func load() throws -> [String: Int64] {
        var entries: [String: Int64] = [:]
        for (key, value) in try db.entries() {
            let address = String(decoding: key.last == 0 ? key.dropLast() : key[...], as: UTF8.self)
            let text = String(decoding: value.last == 0 ? value.dropLast() : value[...], as: UTF8.self)
            // An entry whose value is not a number (a foreign writer) counts as expired.
            entries[address] = Int64(text) ?? 0
        }
        return entries
    }

    public func put(_ address: String, expires: Int64) throws {
        try db.put(Array(address.utf8), Array(String(expires).utf8))
        try db.sync()
    }

    public func delete(_ addresses: [String]) throws {
        guard !addresses.isEmpty else { return }
        for address in addresses { try db.delete(Array(address.utf8)) }
        try db.sync()
    }
}

/// Entries in memory only (tests).
public final class DracMemoryStore: DracStore, @unchecked Sendable {
    private var entries: [String: Int64] = [:]
    public init(_ entries: [String: Int64] = [:]) { self.entries = entries }
    public func load() throws -> [String: Int64] { entries }
    public func put(_ address: String, expires: Int64) throws { entries[address] = expires }
    public func delete(_ addresses: [String]) throws { for a in addresses { entries[a] = nil } }
}
