// queue-bench: messages made durable per second by the queue service at several numbers of
// concurrent writers, against this machine's raw rate of the same durable sequence done naively
// (one file per message: write, fsync, rename, fsync the directory) in the spool's file system.
// Not a test: it prints figures. Run by bench/queue/run.sh against a queue in queueonly mode.

import ArgumentParser
import Foundation
import IPC
import IPCTransport
import Logging
import NIOCore
import NIOPosix

@main
struct QueueBench: AsyncParsableCommand {
    @Option(help: "The queue's socket.") var socket: String
    @Option(help: "Messages per measurement.") var messages = 2000
    @Option(help: "Message size in octets.") var size = 2048
    @Option(help: "Concurrent writers, comma-separated.") var writers = "1,10,50"
    @Option(help: "A directory in the spool's file system for the raw fsync baseline; empty: skip it.") var rawDirectory = ""

    func run() async throws {
        let levels = writers.split(separator: ",").compactMap { Int($0) }
        var logger = Logger(label: "queue-bench")
        logger.logLevel = .error
        let client = IPCClient(configuration: .init(path: socket, service: "queue", clientName: "smtp-in"), logger: logger)
        let body = ByteBuffer(string: "Subject: bench\r\nFrom: bench@client.test\r\n\r\n" + String(repeating: "x", count: max(0, size - 60)) + "\r\n")
        print("durable acceptance of \(size)-octet messages (queue.submit, 250 only after fsync)")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            for _ in 0..<20 { _ = try await submit(client, body) }
            for level in levels {
                let (rate, p50, p99) = try await measure(level) { _ = try await submit(client, body) }
                print(line("queue, \(level) writer(s)", rate, p50, p99))
            }
            group.cancelAll()
        }
        guard !rawDirectory.isEmpty else { return }
        print("raw durable writes in \(rawDirectory) (open, write, fsync, close, rename, fsync dir; one per message)")
        try FileManager.default.createDirectory(atPath: rawDirectory + "/tmp", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: rawDirectory + "/new", withIntermediateDirectories: true)
        let payload = [UInt8](repeating: 0x78, count: size)
        for level in levels {
            // One thread per writer: each blocks in fsync, as a naive MTA's processes would.
            let pool = NIOThreadPool(numberOfThreads: level)
            pool.start()
            let counter = Counter()
            let directory = rawDirectory
            let (rate, p50, p99) = try await measure(level) {
                let n = counter.next()
                try await pool.runIfActive { try rawWrite(directory, "m\(n)", payload) }
            }
            try await pool.shutdownGracefully()
            print(line("raw fsync sequence, \(level) writer(s)", rate, p50, p99))
        }
        try? FileManager.default.removeItem(atPath: rawDirectory)
    }

    func submit(_ client: IPCClient, _ body: ByteBuffer) async throws -> String {
        let request = IPCBody.queueSubmit(.with {
            $0.sender = "bench@client.test"
            $0.recipients = [.with { $0.address = "sink@remote.test" }]
        })
        let stream = AsyncStream<ByteBuffer> { $0.yield(body); $0.finish() }
        guard case let .queueAccepted(accepted) = try await client.request(request, streaming: stream) else { throw POSIXError(.EPROTO) }
        return accepted.queueID
    }

    /// Runs `messages` operations with `level` in flight; returns rate and latency percentiles.
    func measure(_ level: Int, _ operation: @escaping @Sendable () async throws -> Void) async throws -> (Double, Duration, Duration) {
        let perWriter = max(1, messages / level)
        let start = ContinuousClock.now
        let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
            for _ in 0..<level {
                group.addTask {
                    var mine: [Duration] = []
                    for _ in 0..<perWriter {
                        let t = ContinuousClock.now
                        try await operation()
                        mine.append(ContinuousClock.now - t)
                    }
                    return mine
                }
            }
            var all: [Duration] = []
            for try await part in group { all += part }
            return all.sorted()
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return (Double(latencies.count) / seconds, latencies[latencies.count / 2], latencies[latencies.count * 99 / 100])
    }

    func line(_ what: String, _ rate: Double, _ p50: Duration, _ p99: Duration) -> String {
        func ms(_ d: Duration) -> String { String(format: "%.2f", Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000) }
        return what.padding(toLength: 40, withPad: " ", startingAt: 0) + String(format: "%9.0f msg/s", rate) + "   p50 \(ms(p50)) ms   p99 \(ms(p99)) ms"
    }
}

final class Counter: @unchecked Sendable {
    let lock = NSLock()
    var value = 0
    func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
}

func rawWrite(_ dir: String, _ name: String, _ payload: [UInt8]) throws {
    let tmp = dir + "/tmp/" + name
    let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o600)
    guard fd >= 0 else { throw POSIXError(.EIO) }
    _ = payload.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    fsync(fd)
    close(fd)
    rename(tmp, dir + "/new/" + name)
    let d = open(dir + "/new", O_RDONLY | O_DIRECTORY)
    fsync(d)
    close(d)
}
