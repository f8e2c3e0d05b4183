#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOPosix
import Synchronization

/// Empty files made ahead in the spool's msg/ (`.blank-<n>`), their names already durable (msg/
/// fsynced after they were made), for the next messages to be received in. Receiving a message
/// then allocates no inode and needs one fsync, of the file: its name survived a power loss
/// before the message was written, so once the file's content is on disk the message can be
/// found again with no further write, and the queue answers 250. Its id is then linked to it
/// (msg/<id>, a second name for the same file), and the blank's name is removed only after an
/// fsync of msg/ that followed the link: the one that makes the next blanks' names durable
/// (`fill`), or none when the message is delivered first (`Spool.remove` takes both names). At
/// every moment one of its names is durable, on any file system, journaled or not, and no
/// fsync is added for it. Recovery finds a message under either name (`Spool.recover`), its
/// end marker's SHA-256 telling a committed message from one a power loss tore. Blanks are made
/// again on the I/O pool, off any message's path, one at a time between commits (`commits`);
/// when none is ready a message is received as before (a file in tmp/, renamed into msg/, msg/
/// fsynced).
///
/// A delivered message's file is kept as a blank when fewer than `target` are ready or on their
/// way (`reserveRecycling`, `Spool.remove`): renamed to a blank's name (or keeping the one it
/// has) and emptied, ready after the next fsync of msg/ (which makes its new name and its id's
/// removal durable). In steady traffic the spool then neither frees nor allocates inodes: on
/// ext4 without a journal allocating one passes over every inode freed in the last minutes (a
/// quarter to two fifths of the queue's CPU per message in a steady flow, bench/flow.py), and
/// with a journal both are metadata to log.
final class SpoolBlanks: Sendable {
    private struct State {
        var ready: [String] = []
        var next = 0
        var refilling = false
        /// Delivered messages' files under a blank's name and emptied, in the order kept: ready
        /// after `fill`'s next fsync of msg/.
        var recycled: [String] = []
        /// Removals that may keep their file as a blank, between `reserveRecycling` and
        /// `endRecycling`.
        var reserved = 0
        /// Blanks ready or on their way (made, recycled or reserved): `fill` makes up the rest.
        var coming: Int { ready.count + recycled.count + reserved }
        /// Committed messages still under their blank's name too (id -> blank), until an fsync
        /// of msg/ after their link has made their id durable.
        var unsettled: [String: String] = [:]
    }

    let directory: String
    /// How many are kept ready: more than messages are received at once in practice (the pool's
    /// threads), so a burst rarely finds none (it then creates its own file, as before).
    let target: Int
    private let state = Mutex(State())
    /// Messages being committed. Making a blank takes msg/'s lock and dirties its blocks, which
    /// a commit's fsync writes too (on ext4 without a journal a new file's fsync writes its
    /// directory), and allocating an inode there can take a third of a millisecond (ext4 passes
    /// over inodes freed in the last minutes): made in one go, 16 blanks held the commit that
    /// overlapped them for 5 ms, one message in 16 at one connection. So `fill` makes each blank
    /// and syncs msg/ only while no commit is in progress, unless fewer than a quarter of
    /// `target` are ready (under steady concurrency there is no quiet moment to wait for).
    let commits = CommitGate()

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
            // Gone (an administrator cleaned msg/ by hand): the next one. Anything else (out of
            // file descriptors) the message meets on its own file, with its error.
            guard errno == ENOENT else { return nil }
        }
    }

    /// A message committed in `blank` has its id linked to it: the blank's name goes after the
    /// next fsync of msg/ (`fill`). Till then both names are the message; recovery keeps one.
    func settle(_ blank: String, id: String) {
        state.withLock { $0.unsettled[id] = blank }
    }

    /// The blank a message's file still has as a second name, which is taken away from this
    /// list (its message is being removed: the caller unlinks it first, so that no crash leaves
    /// the blank to bring the message back).
    func unsettledBlank(of id: String) -> String? {
        state.withLock { $0.unsettled.removeValue(forKey: id) }
    }

    /// Room for a delivered message's file to be kept as a blank: the name it is to take (unless
    /// it keeps the blank's name it still has), or nil when `target` blanks are ready or on their
    /// way. Every reservation ends with `endRecycling`.
    func reserveRecycling() -> String? {
        state.withLock { state in
            guard state.coming < target else { return nil }
            state.reserved += 1
            state.next += 1
            return "\(directory)/\(Self.prefix)\(state.next)"
        }
    }

    /// Ends a reservation: `blank` is an emptied file under a blank's name, ready after the next
    /// fsync of msg/; nil when none was kept.
    func endRecycling(_ blank: String?) {
        state.withLock { state in
            state.reserved -= 1
            if let blank { state.recycled.append(blank) }
        }
    }

    /// Makes blanks until `target` are ready or on their way (when fewer than half are), and
    /// makes their names durable (one fsync of the directory) before any is handed out, with
    /// those of the files recycled before it; the same fsync settles the messages linked before
    /// it (their blanks' names are removed after it). Blocks: call on the pool. A failure (the
    /// file system out of inodes) stops it quietly: messages then create their own files and
    /// meet the failure themselves, with its error; blanks made but not synced are removed at
    /// start.
    func fill() {
        defer { state.withLock { $0.refilling = false } }
        let linked = state.withLock { $0.unsettled }
        var made: [String] = []
        let scarce = { [self] in state.withLock { $0.ready.count } < target / 4 }
        // New files only when fewer than half are ready or on their way: the blanks that messages
        // being received or delivered hold now come back from their deliveries (`reserveRecycling`),
        // and made over them, as many files would be removed again as were made.
        let making = state.withLock { $0.coming } < target / 2
        while making {
            commits.waitForNone(unless: scarce)
            let count = made.count
            let name: String? = state.withLock { state in
                guard state.coming + count < target else { return nil }
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
        commits.waitForNone(unless: scarce)
        // Kept before this fsync: their names, and their ids' removal, made durable by it.
        let recycled = state.withLock { $0.recycled.count }
        guard !made.isEmpty || !linked.isEmpty || recycled > 0 else { return }
        guard (try? Spool.syncDirectory(directory)) != nil else { return }
        let settled: [String] = state.withLock { state in
            state.ready += made + state.recycled.prefix(recycled)
            state.recycled.removeFirst(recycled)
            return linked.compactMap { id, blank in
                guard state.unsettled[id] == blank else { return nil } // removed meanwhile, with its blank
                state.unsettled[id] = nil
                return blank
            }
        }
        for blank in settled { unlink(blank) }
    }

    /// Forgets every blank (recovery has just removed them) and makes them again.
    func reset() {
        state.withLock { $0.ready.removeAll(); $0.unsettled.removeAll(); $0.recycled.removeAll() }
        fill()
    }
}

/// Counts commits in progress, for work that should wait until there are none (`SpoolBlanks.fill`).
final class CommitGate: @unchecked Sendable {
    // `inProgress` is guarded by `condition`.
    private let condition = NSCondition()
    private var inProgress = 0
    private var waiting = 0

    /// Runs `work` counted as a commit in progress.
    func commit<T>(_ work: () throws -> T) rethrows -> T {
        condition.lock()
        inProgress += 1
        condition.unlock()
        defer {
            condition.lock()
            inProgress -= 1
            // Every end is signalled: a waiter's `unless` may have become true meanwhile.
            condition.broadcast()
            condition.unlock()
        }
        return try work()
    }

    /// Blocks until no commit is in progress, or `unless` says not to wait (checked again at the
    /// end of each commit; it must not wait for this gate). Call on the I/O pool.
    func waitForNone(unless: () -> Bool) {
        condition.lock()
        while inProgress > 0 && !unless() {
            waiting += 1
            condition.wait()
            waiting -= 1
        }
        condition.unlock()
    }

    /// Threads in `waitForNone` waiting now (tests).
    var waiters: Int {
        condition.lock()
        defer { condition.unlock() }
        return waiting
    }
}
