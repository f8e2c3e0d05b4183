#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Renames files into one directory and makes the renames durable with one fsync of the
/// directory per batch (group commit). It runs on the I/O pool's threads, right after the file's
/// own write and fsync, so a message costs one trip to the pool: the first thread to arrive
/// becomes the leader and commits everything waiting, in batches, while the others wait for
/// their rename to be on disk. Under concurrency many messages share a directory fsync; alone,
/// a message pays exactly one. Nobody returns before their own rename is durable.
final class GroupCommitter: @unchecked Sendable {
    // Guarded by `condition`.
    let directory: String
    private let condition = NSCondition()
    private var waiting: [Request] = []
    private var leading = false

    final class Request {
        let from: String
        let to: String
        var done = false
        var error: Error?
        init(from: String, to: String) {
            self.from = from
            self.to = to
        }
    }

    init(directory: String) {
        self.directory = directory
    }

    /// Blocks until `from` is renamed to `to` and the directory is synced. Call on a thread
    /// that may block (the I/O pool), never on the cooperative pool or an event loop.
    func commitBlocking(from: String, to: String) throws {
        let request = Request(from: from, to: to)
        condition.lock()
        waiting.append(request)
        while !request.done {
            if !leading {
                leading = true
                while !waiting.isEmpty {
                    let batch = waiting
                    waiting = []
                    condition.unlock()
                    let errors = Self.commit(batch, in: directory)
                    condition.lock()
                    for (entry, error) in zip(batch, errors) {
                        entry.error = error
                        entry.done = true
                    }
                    condition.broadcast()
                }
                leading = false
                condition.broadcast()
            } else {
                condition.wait()
            }
        }
        condition.unlock()
        if let error = request.error { throw error }
    }

    /// The renames of a batch, then one fsync of the directory; an error per request.
    static func commit(_ batch: [Request], in directory: String) -> [Error?] {
        var errors: [Error?] = batch.map { rename($0.from, $0.to) == 0 ? nil : Spool.Failure("rename", $0.from) }
        do {
            try Spool.syncDirectory(directory)
        } catch {
            errors = errors.map { $0 ?? error }
        }
        return errors
    }

}
