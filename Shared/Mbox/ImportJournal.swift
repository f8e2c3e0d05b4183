#if canImport(Glibc)
import Glibc
#endif
import CProcess
import Maildir

/// `<maildir>/mailstack-imported`: the key of every message an import stored, one per line,
/// appended and fsynced after the messages and their folders. Holding it open also holds an
/// exclusive lock, so two imports never write into one Maildir at once; opening it removes what
/// an interrupted import left in tmp/.
final class ImportJournal {
    static let name = "mailstack-imported"
    /// At most this much of it is read: ten million messages.
    static let limit = 64 << 20
    /// Tries of the lock, 50 ms apart, before another import is taken to hold it.
    static let lockAttempts = 20

    let path: String
    let fd: Int32
    let keys: Set<String>

    init(maildir: Maildir, owner: (uid: uid_t, gid: gid_t)?) throws {
        path = maildir.path + "/" + Self.name
        fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o660)
        guard fd >= 0 else { throw Maildir.Failure.io(path: path, operation: "open", errno: errno) }
        // A moment's grace before refusing: a process this program forks elsewhere shares every
        // descriptor between its fork and its exec, so a previous holder's lock (an OFD lock
        // lives with the open file description) can outlast that holder's close by that moment.
        var attempts = 1
        while mailstack_exclusive_lock(fd) != 0 {
            guard attempts < Self.lockAttempts else {
                close(fd)
                throw MboxFile.Failure.locked(path, "another import-mbox is writing into this Maildir")
            }
            attempts += 1
            usleep(50_000)
        }
        if let owner { fchown(fd, owner.uid, owner.gid) }
        keys = Self.read(fd)
        // tmp/ files of ours are an interrupted import's message (written again below).
        for name in (try? maildir.entries("tmp")) ?? [] where name.contains(".mbox-") {
            unlink(maildir.path + "/tmp/" + name)
        }
    }

    deinit { close(fd) }

    func append(_ added: [String]) throws {
        let data = Array(added.map { $0 + "\n" }.joined().utf8)
        var written = 0
        while written < data.count {
            let n = data.withUnsafeBytes { write(fd, $0.baseAddress! + written, data.count - written) }
            guard n > 0 else { throw Maildir.Failure.io(path: path, operation: "write", errno: errno) }
            written += n
        }
        guard fsync(fd) == 0 else { throw Maildir.Failure.io(path: path, operation: "fsync", errno: errno) }
    }

    /// The keys of a Maildir's journal without locking it (a dry run), or none.
    static func read(_ maildir: Maildir) -> Set<String> {
        let fd = open(maildir.path + "/" + name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        return read(fd)
    }

    static func read(_ fd: Int32) -> Set<String> {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var offset: off_t = 0
        while data.count < limit {
            let n = pread(fd, &buffer, buffer.count, offset)
            if n <= 0 { break }
            data.append(contentsOf: buffer[0..<n])
            offset += off_t(n)
        }
        return Set(data.split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) })
    }
}
