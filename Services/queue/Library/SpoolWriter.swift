#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import Timing

/// One message being written into the spool's tmp/. The body arrives in pieces and is buffered
/// up to `flushThreshold` octets before it is written, so a small message costs a single trip to
/// the I/O pool (open, write, fsync, close) and a large one is never held whole in memory.
/// `commit()` makes it durable and moves it into msg/; `abandon()` removes it.
public final class SpoolWriter: @unchecked Sendable {
    // Used by one task at a time (the request that streams the message); not shared.
    let spool: Spool
    public let id: String
    let header: [UInt8]
    var pending: [UInt8]
    var fd: Int32 = -1
    /// Its file in tmp/, once opened: a blank made ahead (`SpoolBlanks`), else tmp/<id>.
    var path: String
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

    /// Writes the rest and the end marker, fsyncs, and renames into msg/ (group-committed), in
    /// one trip to the I/O pool. Returns once the message is durable.
    public func commit() async throws {
        try await flush(sync: true, trailer: true)
    }

    public func abandon() async {
        let (fd, path) = (self.fd, self.path)
        self.fd = -1
        _ = try? await spool.pool.runIfActiveHere {
            if fd >= 0 { close(fd) }
            unlink(path)
        }
    }

    private func flush(sync: Bool, trailer: Bool) async throws {
        if trailer { pending += Spool.trailer(bodyLength: bodyLength) }
        let bytes = pending
        pending = []
        let (existingPath, existing, spool, id) = (self.path, fd, self.spool, self.id)
        (fd, path) = try await spool.pool.runIfActiveHere {
            var (fd, path) = (existing, existingPath)
            if fd < 0 {
                if let blank = spool.blanks.take(pool: spool.pool) {
                    (path, fd) = blank
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
            if sync {
                close(fd)
                do {
                    try spool.commitBlocking(path, as: id)
                } catch {
                    unlink(path)
                    throw error
                }
                return (-1, path)
            }
            return (fd, path)
        }
    }

    deinit {
        if fd >= 0 { close(fd) }
    }
}
