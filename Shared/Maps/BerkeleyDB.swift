import CBerkeleyDB
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// One Berkeley DB 5.3 file (hash or btree), the only Swift type that calls libdb. A DB handle
/// opened without DB_THREAD must not be used by two threads at once: every call holds the mutex.
public final class BerkeleyDB: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case hash, btree

        var dbType: DBTYPE { self == .hash ? DB_HASH : DB_BTREE }
    }

    public enum Mode: Sendable {
        case readOnly
        /// Open for writing, creating the file if needed.
        case readWrite
        /// Create a new, empty file (an existing one is truncated).
        case create
    }

    public let path: String
    public let kind: Kind
    /// The DB pointer, only touched with the mutex held.
    struct Handle: @unchecked Sendable {
        var db: UnsafeMutablePointer<DB>?
    }

    private let handle: Mutex<Handle>

    public init(path: String, kind: Kind, mode: Mode, permissions: Int32 = 0o644) throws {
        var db: UnsafeMutablePointer<DB>?
        let created = ms_db_create(&db)
        guard created == 0, let db else {
            throw MapError.database(path: path, operation: "db_create", code: created, message: Self.text(created))
        }
        let flags: UInt32
        switch mode {
        case .readOnly: flags = UInt32(DB_RDONLY)
        case .readWrite: flags = UInt32(DB_CREATE)
        case .create: flags = UInt32(DB_CREATE) | UInt32(DB_TRUNCATE)
        }
        let opened = ms_db_open(db, path, kind.dbType, flags, permissions)
        guard opened == 0 else {
            _ = ms_db_close(db)
            if opened == ENOENT { throw MapError.missing(path: path) }
            throw MapError.database(path: path, operation: "open", code: opened, message: Self.text(opened))
        }
        self.path = path
        self.kind = kind
        self.handle = Mutex(Handle(db: db))
    }

    deinit {
        handle.withLock { handle in
            if let db = handle.db { _ = ms_db_close(db) }
        }
    }

    static func text(_ code: Int32) -> String { String(cString: db_strerror(code)) }

    private func withDB<T>(_ operation: String, _ body: (UnsafeMutablePointer<DB>) throws -> T) throws -> T {
        try handle.withLock { handle in
            guard let db = handle.db else {
                throw MapError.database(path: path, operation: operation, code: EBADF, message: "closed")
            }
            return try body(db)
        }
    }

    /// The value stored under `key`, or nil.
    public func get(_ key: [UInt8]) throws -> [UInt8]? {
        try withDB("get") { db in
            var value: UnsafeMutableRawPointer?
            var length: UInt32 = 0
            let rc = key.withUnsafeBytes { ms_db_get(db, $0.baseAddress, UInt32($0.count), &value, &length) }
            if rc == DB_NOTFOUND { return nil }
            guard rc == 0 else { throw MapError.database(path: path, operation: "get", code: rc, message: Self.text(rc)) }
            guard let value, length > 0 else { return [] }
            return Array(UnsafeRawBufferPointer(start: value, count: Int(length)))
        }
    }

    /// Stores `value` under `key`. With `overwrite` false an existing key is kept and false is
    /// returned.
    @discardableResult
    public func put(_ key: [UInt8], _ value: [UInt8], overwrite: Bool = true) throws -> Bool {
        try withDB("put") { db in
            let flags = overwrite ? 0 : UInt32(DB_NOOVERWRITE)
            let rc = key.withUnsafeBytes { k in
                value.withUnsafeBytes { v in
                    ms_db_put(db, k.baseAddress, UInt32(k.count), v.baseAddress, UInt32(v.count), flags)
                }
            }
            if rc == DB_KEYEXIST { return false }
            guard rc == 0 else { throw MapError.database(path: path, operation: "put", code: rc, message: Self.text(rc)) }
            return true
        }
    }

    /// Deletes `key`; returns false if it was not there.
    @discardableResult
    public func delete(_ key: [UInt8]) throws -> Bool {
        try withDB("del") { db in
            let rc = key.withUnsafeBytes { ms_db_del(db, $0.baseAddress, UInt32($0.count)) }
            if rc == DB_NOTFOUND { return false }
            guard rc == 0 else { throw MapError.database(path: path, operation: "del", code: rc, message: Self.text(rc)) }
            return true
        }
    }

    /// Every key and value, in the file's order.
    public func entries() throws -> [(key: [UInt8], value: [UInt8])] {
        try withDB("cursor") { db in
            var cursor: UnsafeMutablePointer<DBC>?
            let rc = ms_db_cursor(db, &cursor)
            guard rc == 0, let cursor else {
                throw MapError.database(path: path, operation: "cursor", code: rc, message: Self.text(rc))
            }
            defer { _ = ms_dbc_close(cursor) }
            var result: [(key: [UInt8], value: [UInt8])] = []
            while true {
                var k: UnsafeMutableRawPointer?, v: UnsafeMutableRawPointer?
                var kl: UInt32 = 0, vl: UInt32 = 0
                let next = ms_dbc_next(cursor, &k, &kl, &v, &vl)
                if next == DB_NOTFOUND { break }
                guard next == 0 else {
                    throw MapError.database(path: path, operation: "cursor", code: next, message: Self.text(next))
                }
                let key = k.map { Array(UnsafeRawBufferPointer(start: $0, count: Int(kl))) } ?? []
                let value = v.map { Array(UnsafeRawBufferPointer(start: $0, count: Int(vl))) } ?? []
                result.append((key, value))
            }
            return result
        }
    }

    /// Flushes to the file (DB->sync), then fsyncs it.
    public func sync() throws {
        try withDB("sync") { db in
            let rc = ms_db_sync(db)
            guard rc == 0 else { throw MapError.database(path: path, operation: "sync", code: rc, message: Self.text(rc)) }
        }
        let fd = open(path, O_RDONLY)
        if fd >= 0 {
            fsync(fd)
            Glibc.close(fd)
        }
    }

    /// Closes the handle (also done at deinit). Further calls throw.
    public func close() throws {
        try handle.withLock { handle in
            guard let current = handle.db else { return }
            handle.db = nil
            let rc = ms_db_close(current)
            guard rc == 0 else { throw MapError.database(path: path, operation: "close", code: rc, message: Self.text(rc)) }
        }
    }
}
