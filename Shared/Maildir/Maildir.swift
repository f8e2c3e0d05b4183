#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A Maildir: `tmp/`, `new/`, `cur/` (https://cr.yp.to/proto/maildir.html). The queue delivers
/// into it (write to tmp/, fsync, rename into new/, fsync new/); pop3 reads it. Nothing else is
/// shared between the two.
///
/// File names: `<time>.M<usec>P<pid>Q<seq>.<host>,S=<octets>,W=<octets in CRLF form>`, plus
/// `:2,<flags>` in cur/. S= and W= (Dovecot's convention) let a reader know sizes without
/// reading files; names without them are measured when listed.
public struct Maildir: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public struct Message: Sendable, Equatable {
        /// Path relative to the Maildir (`new/NAME` or `cur/NAME:2,S`).
        public var relativePath: String
        /// The unique part of the name (before `:`), stable from new/ to cur/.
        public var uniqueName: String
        /// Octets on disk.
        public var size: Int
        /// Octets as POP3 sends them (every line ending CRLF).
        public var wireSize: Int
        public var mtime: Int
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case io(path: String, operation: String, errno: Int32)
        public var description: String {
            switch self {
            case let .io(path, operation, code): return "\(path): \(operation): \(String(cString: strerror(code)))"
            }
        }
    }

    /// Creates tmp/, new/ and cur/ if missing, and the directories above (0755). Folders are
    /// 0770 and files 0660 less the umask: under systemd (UMask=0007, a setgid maildir root of
    /// group mailstack-mail) the queue writes and pop3 reads and deletes; with the usual 022
    /// the group may only read.
    /// `owner`: give the folders it creates this owner (an import run as root gives them the
    /// queue's, so the queue and pop3 can use them).
    public func create(owner: (uid: uid_t, gid: gid_t)? = nil) throws {
        var parent = ""
        for component in path.split(separator: "/").dropLast() {
            parent += "/" + component
            if mkdir(parent, 0o755) != 0 && errno != EEXIST {
                throw Failure.io(path: parent, operation: "mkdir", errno: errno)
            }
        }
        for sub in ["", "/tmp", "/new", "/cur"] {
            if mkdir(path + sub, 0o770) == 0 {
                if let owner { chown(path + sub, owner.uid, owner.gid) }
            } else if errno != EEXIST {
                throw Failure.io(path: path + sub, operation: "mkdir", errno: errno)
            }
        }
    }

    public var exists: Bool {
        var st = stat()
        return stat(path + "/cur", &st) == 0
    }

    // MARK: delivery

    /// Delivers `data` durably: tmp/ file written and fsynced, renamed into new/, new/ fsynced.
    /// Returns the new file's unique name.
    @discardableResult
    public func deliver(_ data: [UInt8], hostname: String = Maildir.hostname) throws -> String {
        try create()
        let unique = Self.uniqueName(hostname: hostname) + ",S=\(data.count),W=\(Self.wireSize(of: data))"
        try write(data, unique: unique, to: "new/" + unique, exclusive: true)
        let dir = open(path + "/new", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
        return unique
    }

    /// Stores a message under a name the caller chose (the mbox import), with the same care as
    /// `deliver`: tmp/ written and fsynced, its mtime set to `mtime` (pop3 lists by mtime, so
    /// imported mail keeps its place), renamed into cur/ with `flags` (`:2,FLAGS`) or into new/
    /// when `flags` is nil. `uidl` becomes a `U=` field (in hex).
    /// The folders are not fsynced: call `syncFolders()` after a batch.
    @discardableResult
    public func store(_ data: [UInt8], base: String, uidl: String?, flags: String?, mtime: Int,
                      owner: (uid: uid_t, gid: gid_t)? = nil) throws -> String {
        var unique = base + ",S=\(data.count),W=\(Self.wireSize(of: data))"
        if let uidl { unique += ",U=" + Self.encodeUIDL(uidl) }
        let relative = flags.map { "cur/" + unique + ":2," + $0 } ?? "new/" + unique
        try write(data, unique: unique, to: relative, exclusive: false, mtime: mtime, owner: owner)
        return relative
    }

    /// tmp/UNIQUE written, given its owner and mtime, fsynced, renamed to `relative`; on any
    /// failure the tmp/ file is removed. `exclusive`: refuse an existing tmp/ file (a fresh
    /// delivery's name is new; an import writes again what an interrupted run left there).
    func write(_ data: [UInt8], unique: String, to relative: String, exclusive: Bool,
               mtime: Int? = nil, owner: (uid: uid_t, gid: gid_t)? = nil) throws {
        let tmp = path + "/tmp/" + unique
        let fd = open(tmp, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (exclusive ? O_EXCL : O_TRUNC), 0o660)
        guard fd >= 0 else { throw Failure.io(path: tmp, operation: "open", errno: errno) }
        func fail(_ operation: String) -> Failure {
            let code = errno
            close(fd)
            unlink(tmp)
            return Failure.io(path: tmp, operation: operation, errno: code)
        }
        var written = 0
        while written < data.count {
            let n = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, data.count - written) }
            guard n > 0 else { throw fail("write") }
            written += n
        }
        if let owner, fchown(fd, owner.uid, owner.gid) != 0 { throw fail("fchown") }
        if let mtime {
            var times = [timespec(tv_sec: mtime, tv_nsec: 0), timespec(tv_sec: mtime, tv_nsec: 0)]
            guard futimens(fd, &times) == 0 else { throw fail("futimens") }
        }
        guard fsync(fd) == 0 else { throw fail("fsync") }
        close(fd)
        guard rename(tmp, path + "/" + relative) == 0 else {
            let code = errno
            unlink(tmp)
            throw Failure.io(path: tmp, operation: "rename", errno: code)
        }
    }

    /// fsync of new/ and cur/: the renames into them are durable.
    public func syncFolders() throws {
        for sub in ["/new", "/cur"] {
            let dir = open(path + sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard dir >= 0 else { throw Failure.io(path: path + sub, operation: "open", errno: errno) }
            defer { close(dir) }
            guard fsync(dir) == 0 else { throw Failure.io(path: path + sub, operation: "fsync", errno: errno) }
        }
    }

    /// The unique names of every message in new/ and cur/ (the part before `:`).
    public func uniqueNames() throws -> Set<String> {
        var names = Set<String>()
        for sub in ["new", "cur"] {
            for name in try entries(sub) where !name.hasPrefix(".") {
                names.insert(String(name.split(separator: ":", maxSplits: 1)[0]))
            }
        }
        return names
    }

    /// A UIDL in a name: its octets in hex (UIDLs may hold `/`, `:` and `,`, and names stay
    /// plain for shells).
    public static func encodeUIDL(_ uidl: String) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: uidl.utf8.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
    }

    /// The `U=` field of a unique name, decoded; nil if absent or not a valid UIDL (RFC 1939:
    /// 1 to 70 characters 0x21-0x7E).
    static func uidlField(in unique: String) -> String? {
        guard let part = unique.split(separator: ",").dropFirst().first(where: { $0.hasPrefix("U=") }) else { return nil }
        let hex = Array(part.utf8.dropFirst(2))
        guard hex.count % 2 == 0, (2...140).contains(hex.count) else { return nil }
        var bytes: [UInt8] = []
        for i in stride(from: 0, to: hex.count, by: 2) {
            guard let value = UInt8(String(decoding: hex[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(value)
        }
        guard bytes.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The UIDL pop3 answers for a message with this unique name: its `U=` field, else the name
    /// up to its first ',' (the part that never changes), else a digest of the name.
    public static func uidl(ofUnique unique: String) -> String {
        if let kept = uidlField(in: unique) { return kept }
        let base = String(unique.prefix { $0 != "," })
        let ok = !base.isEmpty && base.count <= 70 && base.utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7e }
        if ok { return base }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in unique.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return "x" + String(hash, radix: 16)
    }

    static let sequence = Atomic<UInt64>(0)

    public static var hostname: String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }.replacingSlashesAndColons()
    }

    static func uniqueName(hostname: String) -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let seq = sequence.wrappingAdd(1, ordering: .relaxed).newValue
        return "\(now.tv_sec).M\(now.tv_nsec / 1000)P\(getpid())Q\(seq).\(hostname)"
    }

    /// Octets of `data` with every line ending as CRLF (what RETR sends before dot-stuffing).
    public static func wireSize(of data: [UInt8]) -> Int {
        var size = data.count
        var previous: UInt8 = 0
        for byte in data {
            if byte == 10 && previous != 13 { size += 1 }
            previous = byte
        }
        return size
    }

    // MARK: reading

    /// Moves every message of new/ into cur/ (as a mail reader does when it has seen them), then
    /// lists cur/, oldest first (by mtime, then the arrival time and sequence in the name) so
    /// message numbers are stable and follow arrival.
    public func scan() throws -> [Message] {
        for name in try entries("new") where !name.hasPrefix(".") {
            let target = name.contains(":") ? name : name + ":2,"
            if rename(path + "/new/" + name, path + "/cur/" + target) != 0 && errno != ENOENT {
                throw Failure.io(path: path + "/new/" + name, operation: "rename", errno: errno)
            }
        }
        let cur = path + "/cur"
        guard let dir = opendir(cur) else { throw Failure.io(path: cur, operation: "opendir", errno: errno) }
        defer { closedir(dir) }
        var keyed: [(message: Message, key: ArrivalKey)] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard !name.hasPrefix(".") else { continue } // ., .., and what is hidden
            // Each file is looked up in the folder already open, not by its whole path.
            var st = stat()
            guard fstatat(dirfd(dir), name, &st, 0) == 0 else { continue } // removed meanwhile
            let parsed = Self.parseName(name)
            let relative = "cur/" + name
            let wire = try parsed.wireSize ?? Self.measuredWireSize(path + "/" + relative, stat: st)
            keyed.append((Message(relativePath: relative, uniqueName: parsed.unique, size: Int(st.st_size), wireSize: wire,
                                  mtime: Int(st.st_mtim.tv_sec)), parsed.key))
        }
        // Each name's key parsed once, not at every comparison (a sort makes n log n of them).
        return keyed.sorted { a, b in
            (a.message.mtime, a.key.seconds, a.key.micros, a.key.sequence, a.message.uniqueName)
                < (b.message.mtime, b.key.seconds, b.key.micros, b.key.sequence, b.message.uniqueName)
        }.map(\.message)
    }

    /// A name's arrival time and sequence (`arrivalKey`).
    public typealias ArrivalKey = (seconds: Int, micros: Int, sequence: Int)

    /// What a name in cur/ says: its unique part (before `:`), the wire size of its `,W=` field,
    /// and its arrival key. Read as octets: read Character by Character, the names of a
    /// 200-message mailbox took a fifth of pop3's CPU at each login.
    public static func parseName(_ name: String) -> (unique: String, wireSize: Int?, key: ArrivalKey) {
        let unique = Array(name.utf8).split(separator: UInt8(ascii: ":"), maxSplits: 1).first ?? []
        return (String(decoding: unique, as: UTF8.self), field(UInt8(ascii: "W"), in: unique), arrivalKey(unique))
    }

    /// The arrival time and sequence in a unique name `<seconds>.M<micros>P<pid>Q<n>.<host>`,
    /// as numbers: compared as text, M99812 would sort after M100234 of the same second.
    /// Names of another form give zeros (then the name itself decides).
    static func arrivalKey(_ unique: ArraySlice<UInt8>) -> ArrivalKey {
        let parts = unique.split(separator: UInt8(ascii: "."), maxSplits: 2)
        guard parts.count >= 2, let seconds = integer(parts[0]), parts[1].first == UInt8(ascii: "M") else { return (0, 0, 0) }
        func number(after marker: UInt8) -> Int {
            guard let start = parts[1].firstIndex(of: marker) else { return 0 }
            return integer(parts[1][(start + 1)...].prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) ?? 0
        }
        return (seconds, number(after: UInt8(ascii: "M")), number(after: UInt8(ascii: "Q")))
    }

    /// `,KEY=number` in a Maildir name's unique part: the first of its comma-separated fields
    /// after the first that starts with `KEY=`.
    static func field(_ key: UInt8, in unique: ArraySlice<UInt8>) -> Int? {
        for part in unique.split(separator: UInt8(ascii: ",")).dropFirst()
        where part.count >= 2 && part[part.startIndex] == key && part[part.startIndex + 1] == UInt8(ascii: "=") {
            return integer(part.dropFirst(2))
        }
        return nil
    }

    /// A decimal integer as `Int(String)` reads one: an optional sign, then digits only; nil
    /// for anything else and on overflow.
    static func integer(_ text: ArraySlice<UInt8>) -> Int? {
        var digits = text
        var negative = false
        if let sign = digits.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            negative = sign == UInt8(ascii: "-")
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty else { return nil }
        var value = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            let (times, overflowed) = value.multipliedReportingOverflow(by: 10)
            let (next, overflowedToo) = negative
                ? times.subtractingReportingOverflow(Int(digit - UInt8(ascii: "0")))
                : times.addingReportingOverflow(Int(digit - UInt8(ascii: "0")))
            guard !overflowed, !overflowedToo else { return nil }
            value = next
        }
        return value
    }

    /// Deletes a message; a message already gone counts as deleted.
    public func delete(_ message: Message) throws {
        if unlink(path + "/" + message.relativePath) != 0 && errno != ENOENT {
            throw Failure.io(path: path + "/" + message.relativePath, operation: "unlink", errno: errno)
        }
    }

    /// The names in one of its folders (`tmp`, `new`, `cur`), without . and ..
    public func entries(_ sub: String) throws -> [String] {
        guard let dir = opendir(path + "/" + sub) else { throw Failure.io(path: path + "/" + sub, operation: "opendir", errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// A file's identity and version: a message file in cur/ never changes, so a measured size
    /// stays right for as long as these do.
    struct FileVersion: Hashable {
        var device: UInt64
        var inode: UInt64
        var size: Int
        var mtime: Int
        var mtimeNanoseconds: Int
    }

    /// Wire sizes measured from files without a `W=` field (mail another program delivered or
    /// imported): kept in this process, so a mailbox is read whole at its first scan only, not at
    /// every login (Dovecot keeps the same in its index). At most `measuredLimit` sizes; past it
    /// the cache starts again.
    static let measured = Mutex<[FileVersion: Int]>([:])
    static let measuredLimit = 100_000

    static func measuredWireSize(_ file: String, stat st: stat) throws -> Int {
        let version = FileVersion(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int(st.st_size),
                                  mtime: Int(st.st_mtim.tv_sec), mtimeNanoseconds: Int(st.st_mtim.tv_nsec))
        if let size = measured.withLock({ $0[version] }) { return size }
        let size = try measureWireSize(file)
        measured.withLock { cache in
            if cache.count >= measuredLimit { cache.removeAll() }
            cache[version] = size
        }
        return size
    }

    static func measureWireSize(_ file: String) throws -> Int {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure.io(path: file, operation: "open", errno: errno) }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        var size = 0
        var previous: UInt8 = 0
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 { throw Failure.io(path: file, operation: "read", errno: errno) }
            if n == 0 { break }
            size += n
            for i in 0..<n {
                if buffer[i] == 10 && previous != 13 { size += 1 }
                previous = buffer[i]
            }
        }
        return size
    }
}

extension String {
    /// Maildir names may not contain `/` or `:` (RFC-less but universal): replace them.
    func replacingSlashesAndColons() -> String {
        map { c -> String in c == "/" ? "\\057" : c == ":" ? "\\072" : String(c) }.joined()
    }
}

