#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import Timing

/// The queue's spool directory:
///
///     tmp/<id>      a message being received (never delivered; removed at start)
///     tmp/.blank-N  an empty file made ahead for the next message to be received in (SpoolBlanks)
///     msg/<id>      a committed message: header (QueueEnvelope), body, end marker
///     state/<id>    its delivery progress (QueueState), when an attempt has been made
///     corrupt/<id>  a file in msg/ that failed its checks at start, kept for the administrator
///
/// A message is committed by fsyncing its file in tmp/ (a blank made ahead, or one made for it),
/// renaming it into msg/ and fsyncing msg/, all in one trip to the I/O pool. The renames and the directory fsync are batched
/// (`GroupCommitter`): messages committed at the same time share one directory fsync, while their
/// own fsyncs run in parallel on the pool's threads. Only then is the message acknowledged.
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

    static let trailerLength = 32 // "\nmailstack-end " + 16 digits + "\n"

    public init(directory: String, pool: NIOThreadPool) throws {
        self.directory = directory
        self.pool = pool
        for sub in ["", "/tmp", "/msg", "/state", "/corrupt"] {
            if mkdir(directory + sub, 0o700) != 0 && errno != EEXIST { throw Failure("mkdir", directory + sub) }
        }
        messages = GroupCommitter(directory: directory + "/msg")
        states = GroupCommitter(directory: directory + "/state")
        blanks = SpoolBlanks(directory: directory + "/tmp")
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

    /// Starts a message in tmp/. Throws `QueueEnvelope.Unstorable` for an envelope its header
    /// cannot carry, before anything is written.
    public func create(_ envelope: QueueEnvelope) throws -> SpoolWriter {
        SpoolWriter(spool: self, id: envelope.id, header: try envelope.serialized())
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

    /// Removes a finished message (its file, then its state).
    public func remove(_ id: String) async throws {
        let message = path("msg", id), state = path("state", id)
        try await pool.runIfActiveHere {
            if unlink(message) != 0 && errno != ENOENT { throw Failure("unlink", message) }
            unlink(state)
        }
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
    /// never acknowledged) are removed; a file in msg/ that fails its checks is moved to
    /// corrupt/ and reported, never delivered and never silently deleted.
    public func recover() async throws -> (messages: [Stored], removedTemporary: Int, corrupt: [String]) {
        try await pool.runIfActiveHere { [self] in
            var removed = 0
            for name in try Self.list(directory + "/tmp") {
                if unlink(path("tmp", name)) == 0 && !SpoolBlanks.isBlank(name) { removed += 1 }
            }
            blanks.reset()
            var stored: [Stored] = []
            var corrupt: [String] = []
            var known = Set<String>()
            for name in try Self.list(directory + "/msg") {
                do {
                    let (envelope, location) = try Self.readHeader(path("msg", name))
                    guard envelope.id == name else { throw Failure(message: "header names \(envelope.id)") }
                    var state = QueueState()
                    if let bytes = try? Self.readFile(path("state", name)) { state = QueueState.parse(bytes[...]) }
                    stored.append(Stored(envelope: envelope, state: state, location: location))
                    known.insert(name)
                } catch {
                    rename(path("msg", name), path("corrupt", name))
                    corrupt.append("\(name): \(error)")
                }
            }
            for name in try Self.list(directory + "/state") where !known.contains(name) {
                unlink(path("state", name)) // a state whose message was removed, or a .tmp
            }
            return (stored.sorted { $0.envelope.arrival < $1.envelope.arrival }, removed, corrupt)
        }
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
        guard size >= trailerLength else { throw Failure(message: "truncated (\(size) octets)") }
        let trailer = try read(fd, offset: size - trailerLength, count: trailerLength, path: file)
        guard let bodyLength = bodyLength(trailer: trailer), bodyLength <= size - trailerLength else {
            throw Failure(message: "end marker missing or wrong: the file is incomplete")
        }
        let headerLength = size - trailerLength - bodyLength
        guard headerLength > 0, headerLength <= QueueEnvelope.maxHeaderLength else {
            throw Failure(message: "header of \(headerLength) octets (at most \(QueueEnvelope.maxHeaderLength))")
        }
        let header = try read(fd, offset: 0, count: headerLength, path: file)
        let envelope = try QueueEnvelope.parse(header[...])
        return (envelope, Location(headerLength: headerLength, bodyLength: bodyLength))
    }

    static let trailerPrefix = Array("\nmailstack-end ".utf8)

    static func trailer(bodyLength: Int) -> [UInt8] {
        Array(("\nmailstack-end " + String(bodyLength).leftPadded(to: 16) + "\n").utf8)
    }

    /// The body length in an end marker, read as octets.
    static func bodyLength(trailer: [UInt8]) -> Int? {
        guard trailer.count == trailerLength, trailer.starts(with: trailerPrefix), trailer.last == SpoolText.lineFeed else { return nil }
        let digits = trailer[trailerPrefix.count..<(trailerLength - 1)]
        guard digits.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return Int(String(decoding: digits, as: UTF8.self))
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
