#if canImport(Glibc)
import Glibc
#endif
import NIOPosix
import Synchronization

/// Empty files made ahead in the spool's msg/ (`.blank-<n>`), their names already durable (msg/
/// fsynced after they were made), for the next messages to be received in. Receiving a message
/// then allocates no inode and needs one fsync, of the file: its name survived a power loss
/// before the message was written, so once the file's content is on disk the message can be
/// found again with no further write, and the queue answers 250. Its rename to msg/<id> follows
/// without a directory fsync; recovery finds a message under either name (`Spool.recover`), its
/// end marker's SHA-256 telling a committed message from one a power loss tore. Blanks are made
/// again on the I/O pool, off any message's path; when none is ready a message is received as
/// before (a file in tmp/, renamed into msg/, msg/ fsynced).
final class SpoolBlanks: Sendable {
    private struct State {
        var ready: [String] = []
        var next = 0
        var refilling = false
    }

    let directory: String
    /// How many are kept ready: more than messages are received at once in practice (the pool's
    /// threads), so a burst rarely finds none (it then creates its own file, as before).
    let target: Int
    private let state = Mutex(State())

    init(directory: String, target: Int = 32) {
        self.directory = directory
        self.target = target
    }

    static let prefix = ".blank-"

    /// Whether a name in msg/ is a blank (empty, being written, or a message not yet renamed).
    static func isBlank(_ name: String) -> Bool { name.hasPrefix(prefix) }

    /// A blank opened for writing (its path and descriptor), or nil when none is ready. Blocks
    /// (one open): call on the pool. Starts making more when they run low.
    func take(pool: NIOThreadPool) -> (path: String, fd: Int32)? {
        while true {
            let (path, refill): (String?, Bool) = state.withLock { state in
                let path = state.ready.popLast()
                let refill = !state.refilling && state.ready.count < target / 2
                if refill { state.refilling = true }
                return (path, refill)
            }
            if refill { pool.submit { [self] in if $0 == .active { fill() } else { state.withLock { $0.refilling = false } } } }
            guard let path else { return nil }
            let fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW)
            if fd >= 0 { return (path, fd) }
            // Gone (an administrator cleaned tmp/): the next one.
        }
    }

    /// Makes blanks until `target` are ready, and makes their names durable (one fsync of the
    /// directory) before any is handed out. Blocks: call on the pool. A failure (the file system
    /// out of inodes) stops it quietly: messages then create their own files and meet the
    /// failure themselves, with its error; blanks made but not synced are removed at start.
    func fill() {
        defer { state.withLock { $0.refilling = false } }
        var made: [String] = []
        while true {
            let count = made.count
            let name: String? = state.withLock { state in
                guard state.ready.count + count < target else { return nil }
                state.next += 1
                return "\(directory)/\(Self.prefix)\(state.next)"
            }
            guard let name else { break }
            let fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if fd < 0 {
                if errno == EEXIST { continue } // left by an earlier run that was not recovered: skip its name
                break
            }
            close(fd)
            made.append(name)
        }
        guard !made.isEmpty, (try? Spool.syncDirectory(directory)) != nil else { return }
        state.withLock { $0.ready += made }
    }

    /// Forgets every blank (recovery has just removed them) and makes them again.
    func reset() {
        state.withLock { $0.ready.removeAll() }
        fill()
    }
}
