import Foundation
import IPC
import Logging
import Maildir
import NIOCore
import NIOPosix
import QueueService
import SMTP
import TestSupport

/// A queue in this process over a real spool and real Maildirs in a temporary directory, with
/// routing from a table: `route` decides each recipient, `remote` answers remote deliveries.
final class QueueHarness: @unchecked Sendable {
    let dir: String
    let pool: NIOThreadPool
    let queue: MailQueue
    let remoteJobs = Locked<[QueueRouting.RemoteJob]>([])
    let localJobs = Locked<[QueueRouting.LocalJob]>([])
    var runner: Task<Void, Never>?
    let logs: LogCapture
    let clock = TestClock()

    init(dir: String? = nil, settings configure: (inout MailQueue.Settings) -> Void = { _ in },
         route: @escaping @Sendable (String) throws -> [MailTarget] = QueueHarness.seedRoute,
         remote: @escaping @Sendable (QueueRouting.RemoteJob) throws -> [DeliveryResult] = { job in
             job.envelope.recipients.map { _ in DeliveryResult(code: 250, enhanced: "2.0.0", text: "Ok: queued as X", relay: "sink [127.0.0.1]") }
         },
         local: @escaping @Sendable (QueueRouting.LocalJob) throws -> DeliveryResult = { _ in
             DeliveryResult(code: 250, enhanced: "2.0.0", text: "Delivered", relay: "local")
         }) throws {
        self.dir = try dir ?? TestSupport.temporaryDirectory("queue")
        pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        var settings = MailQueue.Settings()
        settings.hostname = "host.domain.com"
        settings.maildirRoot = self.dir + "/maildirs"
        settings.rewriter = HeaderRewriter(masqueradeAs: "domain.com", masqueradeDomains: ["host.domain.com", "host", "localhost"],
                                           masqueradeEnvelope: true, hostname: "host.domain.com")
        configure(&settings)
        let jobs = remoteJobs, programs = localJobs
        let logs = LogCapture()
        self.logs = logs
        queue = MailQueue(
            spool: try Spool(directory: self.dir + "/spool", pool: pool), settings: settings,
            routing: QueueRouting(resolve: { try route($0) }, deliverRemote: { job in
                jobs.withLock { $0.append(job) }
                return try remote(job)
            }, deliverLocal: { job in
                programs.withLock { $0.append(job) }
                return try local(job)
            }),
            pool: pool, logger: Logger(label: "queue") { _ in logs }, clock: clock.queueClock)
    }

    /// you, user2, postmaster are local; anything @domain1.com else is unknown; the rest remote.
    @Sendable static func seedRoute(_ address: String) throws -> [MailTarget] {
        let (user, domain) = (String(address.prefix { $0 != "@" }), String(address.drop { $0 != "@" }.dropFirst()))
        if ["you", "user2", "postmaster"].contains(user) && ["domain1.com", "host.domain.com"].contains(domain) {
            return [MailTarget(.mailbox(user))]
        }
        if domain == "domain1.com" { return [MailTarget(.error(SMTPReply(550, "5.1.1", "<\(address)>... User unknown")))] }
        return [MailTarget(.remote(address: address, route: .mx))]
    }

    func start() async throws {
        _ = try await queue.recover()
        let queue = self.queue
        runner = Task { await queue.run() }
    }

    func stop() async {
        runner?.cancel()
        await runner?.value
        try? await pool.shutdownGracefully()
    }

    func submit(from sender: String, to recipients: [String], message: String, notify: UInt32 = 0,
                ret: Mailstack_Ipc_DSNReturn = .retUnspecified, queueID: String = "") async throws -> (id: String, size: Int) {
        let submit = Mailstack_Ipc_QueueSubmit.with {
            $0.queueID = queueID
            $0.sender = sender
            $0.recipients = recipients.map { r in .with { $0.address = r; $0.notify = notify } }
            $0.ret = ret
            $0.clientAddress = "127.0.0.2"
            $0.clientName = "client.test"
        }
        let bytes = Array(message.replacingOccurrences(of: "\n", with: "\r\n").utf8)
        // In pieces, to cross the header/body boundary inside a chunk.
        let chunks = stride(from: 0, to: bytes.count, by: 7).map { ByteBuffer(bytes: bytes[$0..<min($0 + 7, bytes.count)]) }
        let stream = AsyncStream<ByteBuffer> { continuation in
            for chunk in chunks { continuation.yield(chunk) }
            continuation.finish()
        }
        return try await queue.accept(submit, body: stream)
    }

    /// The messages in a user's Maildir new/, as text.
    func mailbox(_ user: String) -> [String] {
        let new = dir + "/maildirs/\(user)/new"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: new)) ?? []
        return names.sorted().compactMap { try? String(contentsOfFile: new + "/" + $0, encoding: .utf8) }
    }
}

/// The queue's time in a test: it starts at the real time and moves only when the test says, so
/// min_age, warn_after and return_after pass in no wall-clock time and never by luck. The
/// queue's tick is this clock moving: each `advance` wakes it, nothing else does.
final class TestClock: Sendable {
    let seconds = Locked<Int64>(Int64(Date().timeIntervalSince1970))
    let waiters = Locked<[UUID: CheckedContinuation<Void, any Error>]>([:])

    var now: Int64 { seconds.withLock { $0 } }

    func advance(_ duration: Duration) {
        seconds.withLock { $0 += duration.components.seconds }
        let woken = waiters.withLock { all in defer { all = [:] }; return all }
        for waiter in woken.values { waiter.resume() }
    }

    /// Returns at the next `advance`; throws when the queue's runner is cancelled.
    func tick() async throws {
        let id = UUID()
        let waiters = self.waiters
        @Sendable func cancel() { waiters.withLock { $0.removeValue(forKey: id) }?.resume(throwing: CancellationError()) }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiters.withLock { $0[id] = continuation }
                if Task.isCancelled { cancel() } // cancelled before it was stored
            }
        } onCancel: {
            cancel()
        }
    }

    var queueClock: QueueClock { QueueClock(now: { self.now }, tick: { try await self.tick() }) }
}

/// Collects log lines (the delivery log is part of the behaviour under test).
final class LogCapture: LogHandler, @unchecked Sendable {
    let lines = Locked<[String]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        lines.withLock { $0.append("\(message)") }
    }

    var text: [String] { lines.withLock { $0 } }
}
