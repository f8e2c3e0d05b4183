#if canImport(Glibc)
import Glibc
#endif
import NIOPosix
import Synchronization

/// Empty files made ahead in the spool's tmp/ (`.blank-<n>`), so that receiving a message does not
/// wait for the file system to allocate an inode: `perf` of the queue had a third of its CPU in
/// creating each message's file (ext4 without a journal scans for an inode not recently deleted),
/// all of it between the client's final dot and its 250. A message is written into a blank,
/// fsynced, renamed into msg/ and msg/ fsynced, exactly as a file made for it was: when the file
/// was created changes nothing in what is durable when the 250 is sent, and a blank, like any
/// leftover in tmp/, is removed at start. Blanks are made again on the I/O pool, off any message's path.
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

    /// Whether a name in tmp/ is a blank, not a message being received.
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

    /// Makes blanks until `target` are ready. Blocks: call on the pool. A failure (the file
    /// system full of inodes) stops it quietly: messages then create their own files and meet
    /// the failure themselves, with its error.
    func fill() {
        defer { state.withLock { $0.refilling = false } }
        while true {
            let name: String? = state.withLock { state in
                guard state.ready.count < target else { return nil }
                state.next += 1
                return "\(directory)/\(Self.prefix)\(state.next)"
            }
            guard let name else { return }
            let fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if fd < 0 {
                if errno == EEXIST { continue } // left by an earlier run that was not recovered: skip its name
                return
            }
            close(fd)
            state.withLock { $0.ready.append(name) }
        }
    }

    /// Forgets every blank (recovery has just emptied tmp/) and makes them again.
    func reset() {
        state.withLock { $0.ready.removeAll() }
        fill()
    }
}
