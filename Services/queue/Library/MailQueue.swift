#if canImport(Glibc)
import Glibc
#endif
import IPC
import IPCTransport
import Logging
import Maildir
import NIOCore
import NIOPosix
import SMTP
import Synchronization

/// The queue: takes messages in (durably, before anyone is told they are accepted), delivers
/// them (local recipients into Maildirs, remote ones through smtpfeed-out), retries on the
/// configured schedule, warns and returns with DSNs, and recovers everything after a crash.
public actor MailQueue {
    public struct Settings: Sendable {
        public var minAge: Duration = .seconds(900)
        public var warnAfter: Duration = .seconds(3600)
        public var returnAfter: Duration = .seconds(86400)
        public var hostname = "localhost"
        public var postmaster = "postmaster"
        public var maildirRoot = "/var/mail/mailstack"
        /// The largest message taken (smtp-in enforces smtp.max_message_size; this leaves room
        /// for the header fields added on the way).
        public var maxMessageSize = 5_242_880 + 64 * 1024
        /// Messages being delivered at once.
        public var deliveries = 32
        /// queue.min_free (sendmail's MinFreeBlocks): submissions are refused while the spool's
        /// file system has less free (plus the message's declared SIZE=); 0: only a failing
        /// write refuses.
        public var minFree = 100 * 1024 * 1024
        /// sendmail's DeliveryMode=queueonly: accepted messages wait for the next queue run.
        public var queueOnly = false
        /// When relay-policy or smtpfeed-out could not be asked (restarting), the next attempt
        /// comes after this rather than min_age.
        public var peerRetry: Duration = .seconds(10)
        public var rewriter = HeaderRewriter(masqueradeAs: nil, masqueradeDomains: [], masqueradeEnvelope: false, hostname: "localhost")
        public init() {}
    }

    struct Entry {
        var envelope: QueueEnvelope
        var state: QueueState
        var location: Spool.Location
        var inFlight = false
        /// The next attempt was asked for by an administrator (flush): hosts that failed
        /// recently are tried anyway.
        var flushed = false
    }

    public nonisolated let spool: Spool
    public nonisolated let settings: Settings
    nonisolated let routing: QueueRouting
    nonisolated let logger: Logger
    nonisolated let pool: NIOThreadPool
    nonisolated let clock: QueueClock
    /// Attempts to start, handed to `run`, whose task group owns every delivery.
    nonisolated let starts: AsyncStream<Entry>
    nonisolated let startContinuation: AsyncStream<Entry>.Continuation
    var entries: [String: Entry] = [:]
    /// Ids due now, in order.
    var ready: [String] = []
    var inFlight = 0
    /// The earliest next attempt among deferred messages (Int64.max: none), so the clock's tick
    /// scans the queue only when something is due.
    var earliestDue = Int64.max

    public init(spool: Spool, settings: Settings, routing: QueueRouting, pool: NIOThreadPool, logger: Logger,
                clock: QueueClock = .system) {
        self.spool = spool
        self.settings = settings
        self.routing = routing
        self.pool = pool
        self.logger = logger
        self.clock = clock
        (starts, startContinuation) = AsyncStream.makeStream(of: Entry.self)
    }

    nonisolated var timing: DeliveryDecision.Timing {
        .init(minAge: settings.minAge, warnAfter: settings.warnAfter, returnAfter: settings.returnAfter, peerRetry: settings.peerRetry)
    }

    // MARK: start

    /// Reads the spool: every committed message is queued again. Returns how many.
    public func recover() async throws -> Int {
        let (stored, removed, corrupt) = try await spool.recover()
        for problem in corrupt { logger.error("spool file moved to corrupt/: \(problem)") }
        if removed > 0 { logger.notice("removed \(removed) unacknowledged message(s) from the spool (tmp/, and blanks in msg/ cut before their end)") }
        for message in stored {
            entries[message.envelope.id] = Entry(envelope: message.envelope, state: message.state, location: message.location)
            if message.state.next <= clock.now() {
                ready.append(message.envelope.id)
            } else {
                earliestDue = min(earliestDue, message.state.next)
            }
        }
        return stored.count
    }

    /// Delivers until cancelled: due messages start as capacity allows, each attempt a child
    /// of this task (cancelling it cancels them, and it returns when they have ended); deferred
    /// messages become due with the clock. Called once.
    public func run() async {
        pump()
        await withDiscardingTaskGroup { group in
            group.addTask {
                while (try? await self.clock.tick()) != nil {
                    await self.releaseDue()
                }
            }
            for await entry in starts {
                group.addTask { await self.attempt(entry) }
            }
            group.cancelAll()
        }
    }

    /// Deferred messages whose time has come join the ready ones: the clock's tick (tests call
    /// it to know the queue has looked since they moved the clock).
    public func releaseDue() {
        let now = clock.now()
        guard now >= earliestDue else { return }
        earliestDue = .max
        for (id, entry) in entries where !entry.inFlight && entry.state.next != 0 {
            if entry.state.next <= now {
                entries[id]?.state.next = 0
                ready.append(id)
            } else {
                earliestDue = min(earliestDue, entry.state.next)
            }
        }
        pump()
    }

    /// Queues a message whose file is committed.
    func enqueue(_ envelope: QueueEnvelope, location: Spool.Location, now: Bool = false) {
        var state = QueueState()
        if settings.queueOnly && !now {
            state.next = clock.now() + Int64(settings.minAge.components.seconds)
            earliestDue = min(earliestDue, state.next)
            entries[envelope.id] = Entry(envelope: envelope, state: state, location: location)
            return
        }
        entries[envelope.id] = Entry(envelope: envelope, state: state, location: location)
        ready.append(envelope.id)
        pump()
    }

    /// Writes a message this queue makes itself (a DSN) and queues it.
    func inject(id: String, sender: String, recipient: String, message: [UInt8], notify: DSNNotify) async throws {
        let now = clock.now()
        var envelope = QueueEnvelope(id: id, arrival: now, sender: sender,
                                     recipients: [.init(address: recipient, notify: notify)])
        envelope.clientName = "localhost"
        let writer = try spool.create(envelope)
        do {
            try await writer.append(message)
            try await writer.commit()
        } catch {
            await writer.abandon()
            throw error
        }
        enqueue(envelope, location: writer.location, now: true)
    }

    // MARK: administrators

    public func list() -> [Mailstack_Ipc_QueueEntry] {
        entries.values.sorted { $0.envelope.arrival < $1.envelope.arrival }.map { entry in
            .with {
                $0.queueID = entry.envelope.id
                $0.size = UInt64(entry.location.bodyLength)
                $0.arrival = entry.envelope.arrival
                $0.sender = entry.envelope.sender
                $0.recipients = entry.envelope.recipients.indices.filter { !entry.state.isFinished($0) }
                    .map { entry.envelope.recipients[$0].address }
                $0.lastError = entry.state.lastError
                $0.nextAttempt = entry.state.next
                $0.attempts = UInt32(entry.state.attempts)
            }
        }
    }

    /// Makes one message (or all) due now. Returns how many were scheduled.
    public func flush(_ id: String?) throws -> Int {
        let ids: [String]
        if let id {
            guard entries[id] != nil else { throw IPCHandlerError(.notFound, "no message \(id) in the queue") }
            ids = [id]
        } else {
            ids = Array(entries.keys)
        }
        var count = 0
        for id in ids where entries[id]?.inFlight == false && entries[id]?.state.next != 0 {
            entries[id]?.state.next = 0
            entries[id]?.flushed = true
            ready.append(id)
            count += 1
        }
        pump()
        return count
    }

    public var count: Int { entries.count }
}
