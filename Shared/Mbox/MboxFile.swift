#if canImport(Glibc)
import Glibc
#endif
import CProcess

/// An mbox opened for reading, never for writing: mapped into memory and held with shared
/// locks, so the writers of a spool (sendmail's mail.local, procmail, qpopper) wait while it is
/// read. Before that it must be free:
///
/// * no dot-lock `MBOX.lock` (mail.local, procmail, qpopper, mutt);
/// * no qpopper session: qpopper moves a spool's messages into `.USER.pop` beside it while a
///   session runs (and leaves them there when it dies), so a non-empty one means messages are
///   not in the spool;
/// * a shared fcntl lock and a shared flock (writers take exclusive ones).
///
/// Each is retried until `wait` has passed, then refused with a message that says which.
public final class MboxFile {
    public let path: String
    public let size: Int
    let fd: Int32
    let base: UnsafeMutableRawPointer?

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case open(String, String)
        case locked(String, String)
        public var description: String {
            switch self {
            case let .open(path, reason): return "\(path): \(reason)"
            case let .locked(path, reason): return "\(path): \(reason)"
            }
        }
    }

    /// Opens and locks `path`, retrying a held lock every 100 ms for `wait` seconds;
    /// `waiting` is called once when the first attempt finds it busy.
    public init(path: String, wait: Double, waiting: (String) -> Void = { _ in }) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else { throw Failure.open(path, String(cString: strerror(errno))) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw Failure.open(path, "not a regular file")
        }
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let end = Double(deadline.tv_sec) + Double(deadline.tv_nsec) / 1e9 + wait
        var told = false
        while let busy = Self.busy(path: path, fd: fd) {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            if Double(now.tv_sec) + Double(now.tv_nsec) / 1e9 >= end {
                close(fd)
                throw Failure.locked(path, busy + (wait > 0 ? " (waited \(Int(wait)) s)" : ""))
            }
            if !told { waiting(busy); told = true }
            usleep(100_000)
        }
        // Size after the locks: a writer that finished meanwhile has appended.
        guard fstat(fd, &st) == 0 else { close(fd); throw Failure.open(path, String(cString: strerror(errno))) }
        self.fd = fd
        self.size = Int(st.st_size)
        if size > 0 {
            let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
            guard let mapped, mapped != MAP_FAILED else {
                close(fd)
                throw Failure.open(path, "mmap: \(String(cString: strerror(errno)))")
            }
            base = mapped
        } else {
            base = nil
        }
    }

    deinit {
        if let base { munmap(base, size) }
        close(fd) // releases both locks
    }

    /// The file's bytes while it is open.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: base == nil ? 0 : size))
    }

    /// Why the mbox may not be read now, or nil after taking both shared locks.
    static func busy(path: String, fd: Int32) -> String? {
        var st = stat()
        if lstat(path + ".lock", &st) == 0 {
            return "locked by \(path).lock (a delivery or a mail reader holds it; remove it only if it is stale)"
        }
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let user = slash.map { String(path[path.index(after: $0)...]) } ?? path
        if stat(directory + "/." + user + ".pop", &st) == 0, st.st_size > 0 {
            return "qpopper's temporary drop \(directory)/.\(user).pop holds \(st.st_size) octets: a POP3 session is open or ended without updating the spool; let qpopper finish or import that file too"
        }
        var which: Int32 = 0
        if mailstack_shared_locks(fd, &which) != 0 {
            return which == 1 ? "a writer holds an fcntl lock on it" : "a writer holds a flock on it"
        }
        return nil
    }
}
