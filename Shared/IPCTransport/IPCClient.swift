#if canImport(Glibc)
import Glibc
#endif
import Foundation
import IPC
import Listeners
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A client of one IPC service. `run()` keeps a connection up (reconnecting with backoff when
/// the server restarts); `request` sends a request over it, pipelined with others, and waits for
/// the reply with the same id. With `idleClose`, a connection no request has used for that long
/// is closed and made again at the next request, so a service systemd starts on demand sees no
/// connection and may stop (`ipc.max_idle`).
///
/// A daemon's client keeps one connection per event loop (`connectionPerEventLoop`): a request
/// made on an event loop's thread goes out, and its reply comes back, on that loop, so an SMTP
/// session's policy question and its answer never wake another thread. Elsewhere (a command's
/// one-shot client) one connection is enough.
///
/// Failures a caller must answer with a temporary error (4xx) all throw an `IPCError` whose
/// `isUnavailable` is true: the peer is down or backing off (`peerUnavailable`), the connection
/// broke with the request in flight (`connectionLost`), or the reply was late (`timeout`).
public final class IPCClient: Sendable {
    public struct Configuration: Sendable {
        /// Socket path of the service.
        public var path: String
        /// The service we expect to find there (checked against its hello).
        public var service: String
        /// Our own name, announced in our hello.
        public var clientName: String
        public var maxFrame: Int
        /// Deadline of one request, stream included.
        public var requestTimeout: Duration
        /// Reconnect backoff: the first retry is immediate, then `backoffInitial`, doubling up
        /// to `backoffMax`.
        public var backoffInitial: Duration
        public var backoffMax: Duration
        /// One connection on each event loop of the group instead of one in all.
        public var connectionPerEventLoop: Bool
        /// Close a connection no request has used this long; the next request makes it again
        /// (nil: kept until the service closes it).
        public var idleClose: Duration?

        public init(
            path: String,
            service: String,
            clientName: String,
            maxFrame: Int = IPCLimits.defaultMaxFrame,
            requestTimeout: Duration = .seconds(30),
            backoffInitial: Duration = .milliseconds(50),
            backoffMax: Duration = .seconds(5),
            connectionPerEventLoop: Bool = false,
            idleClose: Duration? = nil
        ) {
            self.path = path
            self.service = service
            self.clientName = clientName
            self.maxFrame = maxFrame
            self.requestTimeout = requestTimeout
            self.backoffInitial = backoffInitial
            self.backoffMax = backoffMax
            self.connectionPerEventLoop = connectionPerEventLoop
            self.idleClose = idleClose
        }
    }

    enum Phase {
        case connecting
        case connected(IPCClientConnection)
        case down(String)
        /// Closed for idleness; `run` waits (`waiter`) until a request wants it again.
        case idle(waiter: CheckedContinuation<Void, Never>?)
        case stopped
    }

    /// One connection kept up on one event loop.
    final class Slot: Sendable {
        let loop: EventLoop
        let phase = Mutex<Phase>(.connecting)
        init(loop: EventLoop) { self.loop = loop }

        var connection: IPCClientConnection? {
            phase.withLock { if case let .connected(c) = $0 { c } else { nil } }
        }

        /// The phase, after waking a connection closed for idleness (a request wants it).
        func demand() -> Phase {
            let (current, waiter) = phase.withLock { phase -> (Phase, CheckedContinuation<Void, Never>?) in
                guard case let .idle(waiter) = phase else { return (phase, nil) }
                phase = .connecting
                return (phase, waiter)
            }
            waiter?.resume()
            return current
        }

        /// Returns once a request wants a connection again (at once if one already did), or
        /// the task is cancelled.
        func awaitDemand() async {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let waiting = phase.withLock { phase -> Bool in
                        guard case .idle(nil) = phase else { return false }
                        phase = .idle(waiter: continuation)
                        return true
                    }
                    if !waiting { continuation.resume() }
                }
            } onCancel: {
                let waiter = phase.withLock { phase -> CheckedContinuation<Void, Never>? in
                    guard case let .idle(waiter) = phase else { return nil }
                    phase = .stopped
                    return waiter
                }
                waiter?.resume()
            }
        }

        /// Closes `connection` if no request has used it for `idle`; else checks again when
        /// it could be.
        func closeWhenIdle(_ connection: IPCClientConnection, io: ChannelIO<ByteBuffer>, after idle: TimeAmount) {
            let idleness = phase.withLock { phase -> IPCClientConnection.Idleness? in
                // Gone already (the service closed it): nothing to watch.
                guard case let .connected(current) = phase, current === connection else { return nil }
                let idleness = connection.retireIfIdle(idle, now: .now())
                if idleness == .retired { phase = .idle(waiter: nil) }
                return idleness
            }
            switch idleness {
            case nil:
                break
            case .retired:
                io.channel.close(promise: nil)
            case let .usedUntil(deadline):
                loop.scheduleTask(deadline: deadline) { self.closeWhenIdle(connection, io: io, after: idle) }
            }
        }
    }

    public let configuration: Configuration
    let logger: Logger
    let slots: [Slot]
    /// Turns among the slots for requests made off the event loops.
    let turn = Atomic<Int>(0)

    public init(
        configuration: Configuration,
        logger: Logger,
        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.configuration = configuration
        self.logger = logger
        let loops = configuration.connectionPerEventLoop ? Array(group.makeIterator()) : [group.next()]
        slots = loops.map(Slot.init)
    }

    /// True while a connection is up.
    public var isConnected: Bool {
        slots.contains { $0.connection != nil }
    }

    /// Keeps the connections up until the task is cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for (index, slot) in slots.enumerated() {
                group.addTask { await self.keep(slot, reporting: index == 0) }
            }
        }
    }

    /// Keeps `slot`'s connection up, reconnecting with backoff. One slot speaks for all in the
    /// log: they find the peer gone at the same moment.
    private func keep(_ slot: Slot, reporting: Bool) async {
        var backoff: Duration = .zero
        while !Task.isCancelled {
            slot.phase.withLock { $0 = .connecting }
            var reason = "connection closed"
            do {
                if try await connectAndServe(slot, onConnected: { backoff = .zero }) {
                    // Closed for idleness: made again when a request wants it.
                    logger.debug("ipc \(configuration.service): connection unused for \(configuration.idleClose ?? .zero), closed")
                    await slot.awaitDemand()
                    continue
                }
            } catch is CancellationError {
                break
            } catch {
                reason = "\(error)"
            }
            if Task.isCancelled { break }
            // The first retry is immediate, and requests wait for it rather than fail: a
            // service that systemd starts on demand closes a connection it accepted while
            // stopping before its hello, and the next connection waits in systemd's socket.
            if backoff != .zero { slot.phase.withLock { $0 = .down(reason) } }
            // One warning when the peer goes away; the retries that follow are debug noise.
            if backoff == configuration.backoffInitial, reporting {
                logger.warning("ipc \(configuration.service) at \(configuration.path) unavailable (\(reason)); retrying with backoff")
            } else {
                logger.debug("ipc \(configuration.service) still unavailable (\(reason)); retrying in \(backoff)")
            }
            do { try await Task.sleep(for: backoff) } catch { break }
            backoff = backoff == .zero ? configuration.backoffInitial : min(backoff * 2, configuration.backoffMax)
        }
        slot.phase.withLock { $0 = .stopped }
    }

    /// True when the connection was closed for idleness.
    private func connectAndServe(_ slot: Slot, onConnected: () -> Void) async throws -> Bool {
        let maxFrame = configuration.maxFrame
        let io = try await ClientBootstrap(group: slot.loop)
            .connectTimeout(.seconds(2))
            .connect(unixDomainSocketPath: configuration.path) { channel in
                channel.eventLoop.makeCompletedFuture { try IPCPipeline.configure(channel, maxFrame: maxFrame) }
            }
        let retired: Bool
        do {
            retired = try await serve(io, slot, onConnected: onConnected)
        } catch {
            await io.close()
            throw error
        }
        await io.close()
        return retired
    }

    /// Hello, then replies matched to their requests until the connection ends; true when it
    /// was closed for idleness.
    private func serve(_ io: ChannelIO<ByteBuffer>, _ slot: Slot, onConnected: () -> Void) async throws -> Bool {
        let maxFrame = configuration.maxFrame
        try await io.write(
            IPCCodec.encodeFrame(IPCEnvelope(id: 0, body: .hello(service: configuration.clientName, maxFrame: maxFrame))))
        try await checkHello(io.next())
        let connection = IPCClientConnection(writer: io, service: configuration.service)
        slot.phase.withLock { $0 = .connected(connection) }
        onConnected()
        if let idle = configuration.idleClose {
            io.channel.eventLoop.execute { slot.closeWhenIdle(connection, io: io, after: idle.timeAmount) }
        }
        defer {
            slot.phase.withLock { if case .connected = $0 { $0 = .connecting } }
            connection.failAll(IPCError.connectionLost(service: configuration.service))
        }
        while let payload = try await io.next() {
            let envelope = try IPCCodec.decode(payload)
            guard let body = envelope.body else {
                throw IPCError.protocolViolation("reply \(envelope.requestID) has no known body")
            }
            if envelope.requestID == 0, case let .error(error) = body {
                throw IPCError.remote(code: error.code.rawValue, message: error.message)
            }
            connection.complete(envelope.requestID, with: body)
        }
        return connection.isRetired
    }

    private func checkHello(_ payload: ByteBuffer?) throws {
        guard let payload else { throw IPCError.badHello("\(configuration.service) closed before its hello") }
        let envelope = try IPCCodec.decode(payload)
        switch envelope.body {
        case let .hello(hello):
            guard hello.protocolVersion == IPCProtocol.version else {
                throw IPCError.versionMismatch(ours: IPCProtocol.version, theirs: hello.protocolVersion, peer: hello.service)
            }
            guard hello.service == configuration.service else {
                throw IPCError.badHello("expected \(configuration.service) at \(configuration.path), found \(hello.service)")
            }
        case let .error(error):
            throw error.code == .versionMismatch
                ? IPCError.versionMismatch(ours: IPCProtocol.version, theirs: 0, peer: configuration.service)
                : IPCError.badHello(error.message)
        default:
            throw IPCError.badHello("first frame from \(configuration.service) was \(envelope.typeName)")
        }
    }

    /// The slot a request made here should use: the current event loop's, else the next in turn.
    var preferredSlot: Slot {
        if slots.count > 1, let current = MultiThreadedEventLoopGroup.currentEventLoop,
           let own = slots.first(where: { $0.loop === current }) {
            return own
        }
        return slots.count == 1 ? slots[0] : slots[turn.wrappingAdd(1, ordering: .relaxed).oldValue % slots.count]
    }

    /// The live connection, preferably the current event loop's (another that is up while it
    /// reconnects); waits while one is being made, fails fast while the peer is down.
    func connection(deadline: ContinuousClock.Instant, preferring preferred: Slot? = nil) async throws -> IPCClientConnection {
        let slot = preferred ?? preferredSlot
        while true {
            let current = slot.demand()
            if case let .connected(connection) = current { return connection }
            if let other = slots.lazy.compactMap(\.connection).first { return other }
            switch current {
            case let .down(reason):
                throw IPCError.peerUnavailable(service: configuration.service, reason: reason)
            case .stopped:
                throw IPCError.peerUnavailable(service: configuration.service, reason: "client stopped")
            case .connecting, .connected, .idle:
                guard ContinuousClock.now < deadline else {
                    throw IPCError.peerUnavailable(service: configuration.service, reason: "not connected")
                }
                // Connecting to a Unix socket takes microseconds; poll briefly.
                try await Task.sleep(for: .milliseconds(1))
            }
        }
    }

    /// Sends one request and returns the reply's body. An Error reply is thrown as
    /// `IPCError.remote`.
    public func request(_ body: IPCBody, timeout: Duration? = nil) async throws -> IPCBody {
        let timeout = timeout ?? configuration.requestTimeout
        let (connection, id, reply) = try await register(timeout: timeout)
        do {
            try await connection.writer.write(IPCCodec.encodeFrame(IPCEnvelope(id: id, body: body)))
        } catch {
            connection.fail(id, IPCError.connectionLost(service: configuration.service))
        }
        return try Self.unwrap(await reply.get())
    }

    /// Sends one request followed by a streamed body (`IPCUpload`: chunks of `IPCLimits.maxChunk`
    /// octets, written as the channel accepts them), then waits for the reply. If `body` throws,
    /// the stream is aborted so the server discards what it received.
    public func request<Body: AsyncSequence>(
        _ request: IPCBody,
        streaming body: Body,
        timeout: Duration? = nil
    ) async throws -> IPCBody where Body.Element == ByteBuffer {
        let upload = try await self.upload(request, timeout: timeout)
        do {
            for try await buffer in body { try await upload.send(buffer) }
        } catch let error where !(error is IPCError) {
            // The request fails with the source's error, decided before the abort is sent: the
            // server's answer to the abort ("stream aborted") could otherwise come first.
            await upload.abort(error)
            throw error
        } catch {
            // The request has failed (the connection lost, its deadline): `finish` throws why.
        }
        return try await upload.finish()
    }

    /// A live connection and a request registered on it: another connection if the one found
    /// was just closed for idleness.
    func register(timeout: Duration) async throws -> (IPCClientConnection, UInt64, EventLoopFuture<IPCBody>) {
        let deadline = ContinuousClock.now + timeout
        while true {
            let connection = try await connection(deadline: deadline)
            if let (id, reply) = connection.register(timeout: timeout) { return (connection, id, reply) }
        }
    }

    static func unwrap(_ body: IPCBody) throws -> IPCBody {
        if case let .error(error) = body {
            throw IPCError.remote(code: error.code.rawValue, message: error.message)
        }
        return body
    }
}
