#if canImport(Glibc)
import Glibc
#endif
import Crypto
import NIOCore
import Timing

/// One message being written into the spool. The body arrives in pieces and is buffered up to
/// `flushThreshold` octets before it is written, so a small message costs a single trip to the
/// I/O pool (open, write, fsync, close; none when it is the only message being written:
/// `Spool.trip`) and a large one is never held whole in memory.
/// `commit()` makes it durable under msg/; `abandon()` removes it.
///
/// Where: a blank made ahead in msg/ (`SpoolBlanks`: its name already durable, so the message
/// is committed by one fsync of the file; msg/<id> is then linked to it, and the blank's name
/// removed after the next fsync of msg/, which making more blanks needs anyway), or, when none
/// is ready, tmp/<id> (fsynced, renamed into msg/, msg/ fsynced: `GroupCommitter`). Either way
/// the file ends with an end marker holding the body's length and the SHA-256 of all before it,
/// by which recovery tells a committed blank from a torn one.
public final class SpoolWriter: @unchecked Sendable {
    // Used by one task at a time (the request that streams the message); not shared.
    let spool: Spool
    public let id: String
    let header: [UInt8]
    var pending: [UInt8]
    var fd: Int32 = -1
    /// Its file, once opened: a blank in msg/, else tmp/<id>.
    var path: String
    var inBlank = false
    var committed = false
    var sum = SHA256()
    public private(set) var bodyLength = 0
    static let flushThreshold = 512 * 1024

    init(spool: Spool, id: String, header: [UInt8]) {
        self.spool = spool
        self.id = id
        self.header = header
        pending = header
        pending.reserveCapacity(header.count + 16 * 1024)
        path = spool.path("tmp", id)
    }

    public var location: Spool.Location { Spool.Location(headerLength: header.count, bodyLength: bodyLength) }

    public func append(_ bytes: some Collection<UInt8>) async throws {
        pending.append(contentsOf: bytes)
        bodyLength += bytes.count
        if pending.count >= Self.flushThreshold { try await flush(sync: false, trailer: false) }
    }

    /// Writes the rest and the end marker, fsyncs, and puts the message under msg/<id>, in one
    /// trip to the I/O pool. Returns once the message is durable.
    public func commit() async throws {
        try await flush(sync: true, trailer: true)
    }

    /// Removes what was written; nothing once committed.
    public func abandon() async {
        let (fd, path) = (self.fd, self.path)
        self.fd = -1
        guard !committed else { return }
        _ = try? await spool.pool.runIfActiveHere {
            if fd >= 0 { close(fd) }
            unlink(path)
        }
    }

    private func flush(sync: Bool, trailer: Bool) async throws {
        sum.update(data: pending)
        if trailer { pending += Spool.trailer(bodyLength: bodyLength, sum: Array(sum.finalize())) }
        let bytes = pending
        pending = []
        // The descriptor is the trip's until it returns: on failure it has been closed there.
        let (existingPath, existing, inBlank, spool, id) = (self.path, fd, self.inBlank, self.spool, self.id)
        fd = -1
        (fd, path, self.inBlank) = try await spool.trip(commit: sync) {
            let work = { try Self.write(bytes, sync: sync, fd: existing, path: existingPath, inBlank: inBlank, spool: spool, id: id) }
            return sync ? try spool.blanks.commits.commit(work) : try work()
        }
        if sync { committed = true }
    }

    /// The trip's work: opens a blank (or tmp/<id>) if none is open yet, writes, and for a commit
    /// fsyncs and links the id (or renames tmp/<id> into msg/). Blocks.
    private static func write(_ bytes: [UInt8], sync: Bool, fd existing: Int32, path existingPath: String, inBlank: Bool,
                              spool: Spool, id: String) throws -> (Int32, String, Bool) {
        var (fd, path, inBlank) = (existing, existingPath, inBlank)
        if fd < 0 {
            if let blank = spool.blanks.take(pool: spool.pool) {
                (path, fd, inBlank) = (blank.path, blank.fd, true)
            } else {
                fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw Spool.Failure("open", path) }
            }
        }
        do {
            try bytes.withUnsafeBytes { try Spool.write(fd, $0, path: path) }
            if sync {
                guard fsync(fd) == 0 else { throw Spool.Failure("fsync", path) }
            }
        } catch {
            close(fd)
            unlink(path)
            throw error
        }
        guard sync else { return (fd, path, inBlank) }
        close(fd)
        do {
            if inBlank {
                // Durable now, under the blank's name. Its id becomes a second name (never
                // over another message's: link fails if the name exists); the blank's goes
                // after the next fsync of msg/.
                let committed = spool.path("msg", id)
                guard link(path, committed) == 0 else { throw Spool.Failure("link", committed) }
                spool.blanks.settle(path, id: id)
            } else {
                try spool.commitBlocking(path, as: id)
            }
        } catch {
            unlink(path)
            throw error
        }
        return (-1, path, inBlank)
    }

    deinit {
        if fd >= 0 { close(fd) }
        spool.release(id)
    }
}
