#if canImport(Glibc)
import Glibc
#endif
import Crypto
import NIOCore
import NIOPosix
import Synchronization
import Timing

/// The queue's spool directory:
///
///     tmp/<id>      a message being received (never delivered; removed at start)
///     msg/<id>      a committed message: header (QueueEnvelope), body, end marker
///     msg/.blank-N  an empty file made ahead for the next message to be received in (SpoolBlanks),
///                   or one being received, or a committed message's second name till msg/ is synced
///     state/<id>    its delivery progress (QueueState), when an attempt has been made
///     corrupt/<id>  a file in msg/ that failed its checks at start, kept for the administrator
///
/// A message is committed in one trip to the I/O pool, in one of two ways (`SpoolWriter`): written
/// into a blank, whose name in msg/ is already durable, and fsynced (its id is then linked to it,
/// and the blank's name removed after the next fsync of msg/, made for more blanks); or, when no
/// blank is ready, written into tmp/<id>, fsynced, renamed into msg/ and msg/ fsynced, the renames
/// and the directory fsync batched (`GroupCommitter`: messages committed at the same time share one
/// directory fsync, their own fsyncs run in parallel on the pool's threads). Only then is the
/// message acknowledged.
public final class Spool: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        /// The errno of the system call that failed; nil for a file that failed its checks.
        public var code: Int32?
        init(_ operation: String, _ path: String, _ code: Int32 = errno) {
            description = "\(operation) \(path): \(String(cString: strerror(code)))"
            self.code = code
        }
        init(message: String) { description = message }

        /// The file system (or the queue user's quota) is full: nothing is wrong but room.
        public var isOutOfSpace: Bool { code == ENOSPC || code == EDQUOT }
    }

    /// A message found in msg/ at start.
    public struct Stored: Sendable {
        public var envelope: QueueEnvelope
        public var state: QueueState
        public var location: Location
    }

    /// Where a committed message's body is inside its file.
    public struct Location: Sendable {
        public var headerLength: Int
        public var bodyLength: Int
    }

    public let directory: String
    let pool: NIOThreadPool
    let messages: GroupCommitter
    let states: GroupCommitter
    let blanks: SpoolBlanks
    /// The ids of the messages being written, so that two writers of one id cannot both commit.
    private let writing = Mutex(Set<String>())

    public init(directory: String, pool: NIOThreadPool) throws {
        self.directory = directory
        self.pool = pool
        for sub in ["", "/tmp", "/msg", "/state", "/corrupt"] {
            if mkdir(directory + sub, 0o700) != 0 && errno != EEXIST { throw Failure("mkdir", directory + sub) }
        }
        messages = GroupCommitter(directory: directory + "/msg")
        states = GroupCommitter(directory: directory + "/state")
        blanks = SpoolBlanks(directory: directory + "/msg")
    }

    func path(_ area: String, _ id: String) -> String { "\(directory)/\(area)/\(id)" }

    /// Octets of the spool's file system this (unprivileged) user may still write: statvfs's
    /// f_bavail, as sendmail's MinFreeBlocks compared. One system call answered from the file
    /// system's counters in memory, cheap enough to ask per submission.
    public func availableSpace() throws -> Int {
        var info = statvfs()
        guard statvfs(directory, &info) == 0 else { throw Failure("statvfs", directory) }
        let (blocks, size) = (Int(clamping: info.f_bavail), Int(clamping: info.f_frsize))
        return blocks.multipliedReportingOverflow(by: size).overflow ? Int.max : blocks * size
    }

    // MARK: writing

    /// Starts a message. Throws `QueueEnvelope.Unstorable` for an envelope its header cannot
    /// carry, and `InUse` for an id queued or being written, before anything is written.
    public func create(_ envelope: QueueEnvelope) throws -> SpoolWriter {
        let header = try envelope.serialized()
        let id = envelope.id
        guard writing.withLock({ $0.insert(id).inserted }) else { throw InUse(id: id) }
        // Checked once the id is held: a writer of it that committed has released it after.
        guard !exists(id) else {
            release(id)
            throw InUse(id: id)
        }
        return SpoolWriter(spool: self, id: id, header: header)
    }

    /// An id that names a queued message or one being written.
    public struct InUse: Error, CustomStringConvertible {
        public var id: String
        public var description: String { "queue id \(id) is in use" }
    }

    func release(_ id: String) {
        _ = writing.withLock { $0.remove(id) }
    }

    /// Runs a message's blocking file work (write, fsync, link) on the I/O pool, or, for its
    /// commit when it is the only message being written, right here: the event loop has nothing
    /// else to read for the time of the fsync, and the message is spared two hand-overs between
    /// threads (to the pool and back, each a wake-up of another thread). With two or more in
    /// progress the commits go to the pool, where their fsyncs run side by side and the loop
    /// goes on reading the others. (When no blank is ready it may wait, on the loop, for a group
    /// commit of `msg/` that a message started meanwhile leads from the pool: one fsync at most.)
    func trip<T: Sendable>(commit: Bool, _ work: @escaping @Sendable () throws -> T) async throws -> T {
        if commit, writing.withLock({ $0.count }) <= 1 { return try work() }
        return try await pool.runIfActiveHere(work)
    }

    /// Whether msg/ has a message with this id.
    public func exists(_ id: String) -> Bool {
        access(path("msg", id), F_OK) == 0
    }

    /// Renames a finished (fsynced) file from tmp/ into msg/ as `id`, durably. Blocks: call on the pool.
    func commitBlocking(_ file: String, as id: String) throws {
        try messages.commitBlocking(from: file, to: path("msg", id))
    }

    /// Replaces a message's state file durably.
    public func write(_ state: QueueState, of id: String) async throws {
        let tmp = path("state", ".\(id).tmp")
        let bytes = state.serialized()
        let final = path("state", id)
        try await pool.runIfActiveHere { [states] in
            try Self.writeFile(tmp, bytes, sync: true)
            try states.commitBlocking(from: tmp, to: final)
        }
    }

    /// Removes a finished message (its file, then its state). Its file is kept as a blank for a
    /// later message when more are wanted (`SpoolBlanks`): its id's name goes (the file renamed
    /// to a blank's name, or left with the blank's name it was received in), then it is emptied;
    /// it is handed out after the next fsync of msg/, which makes the id's removal durable too
    /// (else, on a file system without a journal, a message written into it and fsynced could be
    /// found under the delivered one's id after a power loss). Else a blank's name it still has
    /// goes first, then its id's. A crash between the steps leaves the message under one name,
    /// to be delivered again, as one between two unlinks does; a power loss may leave its id's
    /// name on an emptied file, which recovery removes. Only the delivery that removes it reads
    /// the file (`body`, before): none has it open when it is emptied and used again.
    public func remove(_ id: String) async throws {
        let message = path("msg", id), state = path("state", id)
        try await pool.runIfActiveHere { [blanks] in
            let blank = blanks.unsettledBlank(of: id)
            if let name = blanks.reserveRecycling() {
                let kept = Self.recycle(message, blank: blank, as: name)
                blanks.endRecycling(kept)
                if kept != nil {
                    unlink(state)
                    return
                }
            }
            if let blank { unlink(blank) }
            if unlink(message) != 0 && errno != ENOENT { throw Failure("unlink", message) }
            unlink(state)
        }
    }

    /// Empties a delivered message's file under a blank's name: `blank`, the one it was received
    /// in and still has, or else `name` (a new link, never over a file there). The blank's path;
    /// nil when nothing was kept (the caller removes what is left as it would have). Blocks:
    /// call on the pool.
    static func recycle(_ message: String, blank: String?, as name: String) -> String? {
        let kept = blank ?? name
        if blank == nil, link(message, name) != 0 { return nil }
        guard unlink(message) == 0 else {
            if blank == nil { unlink(name) }
            return nil
        }
        guard truncate(kept, 0) == 0 else {
            unlink(kept)
            return nil
        }
        return kept
    }

    // MARK: reading

    public func body(of id: String, at location: Location) async throws -> [UInt8] {
        let file = path("msg", id)
        return try await pool.runIfActiveHere {
            let fd = open(file, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw Failure("open", file) }
            defer { close(fd) }
            return try Self.read(fd, offset: location.headerLength, count: location.bodyLength, path: file)
        }
    }

    /// Everything committed: the files in msg/ with their states. Leftovers in tmp/ (messages
    /// never acknowledged) are removed; so is a blank in msg/ that is empty or has no end marker
    /// (never acknowledged: cut by a crash), while a blank that holds a committed message (a
    /// power loss undid the link of its id) gets its id as its name again. A file in msg/ that
    /// fails its checks (a blank whose end marker's sum does not match: torn by a power loss
    /// before it was acknowledged, or damaged after) is moved to corrupt/ and reported, never
    /// delivered and never silently deleted.
    public func recover() async throws -> (messages: [Stored], removedTemporary: Int, corrupt: [String]) {
        try await pool.runIfActiveHere { [self] in
            var removed = 0
            for name in try Self.list(directory + "/tmp") {
                if unlink(path("tmp", name)) == 0 { removed += 1 }
            }
            var renamed = false
            var corrupt: [String] = []
            func setAside(_ name: String, _ why: Any) {
                let kept = keepCorrupt(path("msg", name), as: name)
                corrupt.append("\(name)\(kept == name ? "" : " (corrupt/\(kept))"): \(why)")
            }
            for name in try Self.list(directory + "/msg") where SpoolBlanks.isBlank(name) {
                let blank = path("msg", name)
                do {
                    switch try Self.blankContent(blank) {
                    case .empty:
                        unlink(blank)
                    case .incomplete:
                        if unlink(blank) == 0 { removed += 1 }
                    case .damaged:
                        setAside(name, "end marker's sum does not match: torn or damaged")
                    case .committed:
                        // Its id from its header; a file under that name (both names survived)
                        // is the same message.
                        let id = try Self.readHeader(blank).0.id
                        if exists(id) {
                            unlink(blank)
                        } else {
                            guard rename(blank, path("msg", id)) == 0 else { throw Failure("rename", blank) }
                            renamed = true
                        }
                    }
                } catch {
                    setAside(name, error)
                }
            }
            if renamed { try Self.syncDirectory(directory + "/msg") }
            blanks.reset()
            var stored: [Stored] = []
            var known = Set<String>()
            for name in try Self.list(directory + "/msg") where !SpoolBlanks.isBlank(name) {
                // Empty under an id: a delivered message's file kept as a blank, emptied on disk
                // before its id's removal reached it (a power loss). No message is ever committed
                // empty (its content is fsynced before its id names it): nothing to keep.
                var st = stat()
                if lstat(path("msg", name), &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size == 0 {
                    unlink(path("msg", name))
                    continue
                }
                do {
                    let (envelope, location) = try Self.readHeader(path("msg", name))
                    guard envelope.id == name else { throw Failure(message: "header names \(envelope.id)") }
                    var state = QueueState()
                    if let bytes = try? Self.readFile(path("state", name)) { state = QueueState.parse(bytes[...]) }
                    stored.append(Stored(envelope: envelope, state: state, location: location))
                    known.insert(name)
                } catch {
                    setAside(name, error)
                }
            }
            for name in try Self.list(directory + "/state") where !known.contains(name) {
                unlink(path("state", name)) // a state whose message was removed, or a .tmp
            }
            return (stored.sorted { $0.envelope.arrival < $1.envelope.arrival }, removed, corrupt)
        }
    }

    /// Moves a file from msg/ into corrupt/ under its name, or the first of name.1, name.2, ...
    /// not taken (never over one kept earlier); returns the name it has there.
    func keepCorrupt(_ file: String, as name: String) -> String {
        var kept = name
        var n = 0
        while access(path("corrupt", kept), F_OK) == 0 {
            n += 1
            kept = "\(name).\(n)"
        }
        rename(file, path("corrupt", kept))
        return kept
    }

    /// Reads a committed file's header. The end marker gives the body's length, so the header's
    /// length follows from the file's size: no search, and no limit but the header's own.
    static func readHeader(_ file: String) throws -> (QueueEnvelope, Location) {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure("open", file) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Failure("stat", file) }
        let size = Int(st.st_size)
        let marker = try endMarker(fd, size: size, path: file)
        let headerLength = size - marker.length - marker.bodyLength
        guard headerLength > 0, headerLength <= QueueEnvelope.maxHeaderLength else {
            throw Failure(message: "header of \(headerLength) octets (at most \(QueueEnvelope.maxHeaderLength))")
        }
        let header = try read(fd, offset: 0, count: headerLength, path: file)
        let envelope = try QueueEnvelope.parse(header[...])
        return (envelope, Location(headerLength: headerLength, bodyLength: marker.bodyLength))
    }

    /// What ends a committed file: "\nmailstack-sum <body length, 16 digits> <SHA-256 of all
    /// before it, 64 hex digits>\n". Files of earlier versions end "\nmailstack-end <16 digits>\n"
    /// (no sum); the two cannot be taken for each other (the last 32 octets of the first never
    /// begin with the second's keyword).
    struct EndMarker {
        var bodyLength: Int
        var length: Int
        var sum: [UInt8]?
    }

    static let sumPrefix = Array("\nmailstack-sum ".utf8)
    static let endPrefix = Array("\nmailstack-end ".utf8)
    static let sumMarkerLength = 97 // prefix 15, digits 16, space, 64 hex digits, newline
    static let endMarkerLength = 32 // prefix 15, digits 16, newline

    static func trailer(bodyLength: Int, sum: [UInt8]) -> [UInt8] {
        var out = sumPrefix + Array(String(bodyLength).leftPadded(to: 16).utf8) + [SpoolText.space]
        for byte in sum { out += [SpoolText.hexDigit(byte >> 4), SpoolText.hexDigit(byte & 0x0F)] }
        return out + [SpoolText.lineFeed]
    }

    /// The end marker of a file of `size` octets, checked against the size; throws for a file
    /// without one (incomplete).
    static func endMarker(_ fd: Int32, size: Int, path: String) throws -> EndMarker {
        let tail = try read(fd, offset: max(0, size - sumMarkerLength), count: min(size, sumMarkerLength), path: path)
        guard let marker = endMarker(tail: tail[...]), marker.bodyLength <= size - marker.length else {
            throw Failure(message: "end marker missing or wrong: the file is incomplete")
        }
        return marker
    }

    /// The end marker in a file's last octets (at most `sumMarkerLength` of them), read as octets.
    static func endMarker(tail: ArraySlice<UInt8>) -> EndMarker? {
        guard tail.last == SpoolText.lineFeed else { return nil }
        func digits(_ field: ArraySlice<UInt8>) -> Int? {
            guard field.count == 16, field.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
            return Int(String(decoding: field, as: UTF8.self))
        }
        if tail.count >= endMarkerLength {
            let old = tail.suffix(endMarkerLength)
            if old.starts(with: endPrefix), let length = digits(old.dropFirst(endPrefix.count).dropLast()) {
                return EndMarker(bodyLength: length, length: endMarkerLength, sum: nil)
            }
        }
        guard tail.count >= sumMarkerLength else { return nil }
        let marker = tail.suffix(sumMarkerLength)
        guard marker.starts(with: sumPrefix) else { return nil }
        let fields = marker.dropFirst(sumPrefix.count).dropLast()
        guard let length = digits(fields.prefix(16)), fields.dropFirst(16).first == SpoolText.space else { return nil }
        let hex = fields.dropFirst(17)
        var sum: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            guard let high = SpoolText.hexValue(hex[index]), let low = SpoolText.hexValue(hex[index + 1]) else { return nil }
            sum.append(high << 4 | low)
            index += 2
        }
        return EndMarker(bodyLength: length, length: sumMarkerLength, sum: sum)
    }

    /// What a blank in msg/ holds (recovery): nothing; a committed message (its end marker's sum
    /// matches all before it); a message never acknowledged, cut by a crash before its end
    /// marker was written; or one whose marker is there but whose sum does not match (torn by a
    /// power loss: before the fsync its pages reach the disk in any order; or damaged since).
    /// Reads the file in pieces, so memory stays bounded whatever its size. Throws when it
    /// cannot be read (the caller keeps it in corrupt/).
    enum BlankContent: Equatable { case empty, committed, incomplete, damaged }

    static func blankContent(_ file: String) throws -> BlankContent {
        let fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw Failure("open", file) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Failure("stat", file) }
        let size = Int(st.st_size)
        if size == 0 { return .empty }
        let marker: EndMarker
        do {
            marker = try endMarker(fd, size: size, path: file)
        } catch let failure as Failure where failure.code == nil {
            return .incomplete // no end marker (a read error has a code, and is thrown)
        }
        guard let expected = marker.sum else { return .damaged } // blanks never had the old marker
        var sum = SHA256()
        var offset = 0
        let end = size - marker.length
        while offset < end {
            let piece = try read(fd, offset: offset, count: min(1 << 20, end - offset), path: file)
            sum.update(data: piece)
            offset += piece.count
        }
        return Array(sum.finalize()) == expected ? .committed : .damaged
    }

    // MARK: system calls

    static func list(_ directory: String) throws -> [String] {
        guard let dir = opendir(directory) else { throw Failure("opendir", directory) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func read(_ fd: Int32, offset: Int, count: Int, path: String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw n == 0 ? Failure(message: "\(path): short read") : Failure("read", path) }
            done += n
        }
        return bytes
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure("open", path) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Failure("stat", path) }
        return try read(fd, offset: 0, count: Int(st.st_size), path: path)
    }

    static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Failure("write", path) }
            done += n
        }
    }

    static func writeFile(_ path: String, _ bytes: [UInt8], sync: Bool) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure("open", path) }
        defer { close(fd) }
        try bytes.withUnsafeBytes { try write(fd, $0, path: path) }
        if sync, fsync(fd) != 0 { throw Failure("fsync", path) }
    }

    static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure("open", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw Failure("fsync", path) }
    }
}
