#if canImport(Glibc)
import Glibc
#endif
import NIOPosix

/// Renames files into one directory and makes the renames durable with one fsync of the
/// directory per batch: while a batch is being synced, new requests gather for the next one, so
/// under concurrency many messages share a directory fsync (group commit) and nobody is answered
/// before their own rename is on disk.
actor GroupCommitter {
    let directory: String
    let pool: NIOThreadPool
    var waiting: [(from: String, to: String, done: CheckedContinuation<Void, Error>)] = []
    var running = false
    /// Batches committed and files in them, for the benchmark's report.
    private(set) var batches = 0
    private(set) var files = 0

    init(directory: String, pool: NIOThreadPool) {
        self.directory = directory
        self.pool = pool
    }

    func commit(from: String, to: String) async throws {
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, Error>) in
            waiting.append((from, to, done))
            if !running {
                running = true
                Task { await self.drain() }
            }
        }
    }

    private func drain() async {
        while !waiting.isEmpty {
            let batch = waiting
            waiting = []
            let renames = batch.map { ($0.from, $0.to) }
            let directory = self.directory
            let results: [Error?]
            do {
                results = try await pool.runIfActive {
                    var results: [Error?] = renames.map { from, to in
                        rename(from, to) == 0 ? nil : Spool.Failure("rename", from)
                    }
                    do {
                        try Spool.syncDirectory(directory)
                    } catch {
                        results = results.map { $0 ?? error }
                    }
                    return results
                }
            } catch {
                results = batch.map { _ in error }
            }
            batches += 1
            files += batch.count
            for (entry, error) in zip(batch, results) {
                if let error { entry.done.resume(throwing: error) } else { entry.done.resume() }
            }
        }
        running = false
    }

    var statistics: (batches: Int, files: Int) { (batches, files) }
}
