#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A read-only map over a Berkeley DB file in makemap's layout, for lookups on every SMTP
/// command. When the file is replaced (makemap renames a new file into place) the next lookup
/// after `checkInterval` sees the new inode or mtime and reopens it, with no restart.
///
/// Lookups fold the key to lowercase unless the map was built with `-f` (as sendmail's `K`
/// line's `-f` flag says), and add the NUL that `-N` maps store.
public final class SendmailMap: Sendable {
    public let path: String
    public let kind: BerkeleyDB.Kind
    public let foldCase: Bool
    public let nulTerminated: Bool
    public let checkInterval: Duration
    /// sendmail's `-o`: a map file that does not exist has no entries, instead of failing.
    public let optional: Bool

    struct Identity: Equatable {
        var device: UInt64
        var inode: UInt64
        var mtimeSeconds: Int
        var mtimeNanoseconds: Int
        var size: Int64
    }

    struct State {
        var db: BerkeleyDB?
        var identity: Identity?
        var lastCheck: ContinuousClock.Instant?
        var loads: Int64 = 0
    }

    private let state = Mutex(State())

    /// `path` is the map name as in sendmail (`/etc/mail/access`) or the file itself
    /// (`/etc/mail/access.db`).
    public init(path: String, kind: BerkeleyDB.Kind = .hash, foldCase: Bool = true, nulTerminated: Bool = false,
                checkInterval: Duration = .seconds(1), optional: Bool = false) {
        self.path = MakeMap.databasePath(path)
        self.kind = kind
        self.foldCase = foldCase
        self.nulTerminated = nulTerminated
        self.checkInterval = checkInterval
        self.optional = optional
    }

    /// How many times the file was (re)opened (`MapSource.loads`).
    public var loads: Int64 { state.withLock { $0.loads } }

    /// The value for `key`, or nil. Throws `MapError.missing` when the map never existed.
    public func lookup(_ key: String) throws -> String? {
        var bytes = Array(key.utf8)
        if foldCase { bytes = bytes.map(MakeMap.asciiLower) }
        if nulTerminated { bytes.append(0) }
        guard var value = try lookup(bytes: bytes) else { return nil }
        if nulTerminated, value.last == 0 { value.removeLast() }
        return String(decoding: value, as: UTF8.self)
    }

    /// The value stored under exactly `key` (no folding, no NUL added or removed), or nil; for
    /// maps such as aliases.db that sendmail reads both with and without the NUL.
    public func lookup(bytes key: [UInt8]) throws -> [UInt8]? {
        let db: BerkeleyDB
        do {
            db = try current()
        } catch MapError.missing where optional {
            return nil
        }
        return try db.get(key)
    }

    private func current() throws -> BerkeleyDB {
        let now = ContinuousClock.now
        let (db, due) = state.withLock { s -> (BerkeleyDB?, Bool) in
            let due = s.lastCheck.map { now - $0 >= checkInterval } ?? true
            if due { s.lastCheck = now }
            return (s.db, due)
        }
        if let db, !due { return db }
        let identity = Self.identity(of: path)
        if let db, identity == nil || identity == state.withLock({ $0.identity }) {
            // Unchanged, or removed for a moment: keep serving the map we have.
            return db
        }
        guard identity != nil else { throw MapError.missing(path: path) }
        let fresh = try BerkeleyDB(path: path, kind: kind, mode: .readOnly)
        state.withLock { s in
            s.db = fresh
            s.identity = identity
            s.loads += 1
        }
        return fresh
    }

    static func identity(of path: String) -> Identity? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Identity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), mtimeSeconds: st.st_mtim.tv_sec,
                        mtimeNanoseconds: st.st_mtim.tv_nsec, size: Int64(st.st_size))
    }
}
