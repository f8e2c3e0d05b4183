import IPC
import Listeners
import Logging
import NIOCore
import Synchronization
import Timing

/// One accepted IPC connection: hello, then requests answered concurrently (bounded), chunks
/// routed to their open streams. Any violation of the protocol gets an Error frame, a log line and
/// a closed connection; nothing a peer sends can crash the service.
enum IPCServerConnection {
    static func serve(
        _ connection: ChannelIO<ByteBuffer>,
        peer: IPCPeer,
        handler: some IPCRequestHandler,
        configuration: IPCServerConfiguration,
        logger baseLogger: Logger
    ) async {
        var logger = baseLogger
        var peer = peer
        do {
            logger[metadataKey: "ipc.peer"] = "\(peer)"
            let writer = ReplyWriter(io: connection)
            // A peer that connects and says nothing is not kept.
            let channel = connection.channel
            let silent = channel.eventLoop.scheduleTask(in: configuration.helloTimeout.timeAmount) { channel.close(promise: nil) }
            defer { silent.cancel() }
            peer.service = try await handshake(connection, writer: writer, configuration: configuration)
            silent.cancel()
            logger[metadataKey: "ipc.peer"] = "\(peer)"
            var reader = Reader(
                handler: handler, peer: peer, writer: writer, configuration: configuration, logger: logger)
            do {
                try await reader.run(connection)
            } catch let error as IPCError {
                if case .frameTooLarge = error {
                    try? await writer.send(id: 0, .error(.tooLarge, error.description))
                }
                throw error
            }
        } catch is CancellationError {
        } catch {
            logger.warning("ipc connection closed: \(error)")
        }
        await connection.close()
    }

    /// Reads the peer's hello and answers with ours. Returns the peer's service name.
    static func handshake(
        _ frames: ChannelIO<ByteBuffer>,
        writer: ReplyWriter,
        configuration: IPCServerConfiguration
    ) async throws -> String {
        guard let first = try await frames.next() else { throw IPCError.badHello("connection closed before hello") }
        let envelope: IPCEnvelope
        do {
            envelope = try IPCCodec.decode(first)
        } catch {
            try? await writer.send(id: 0, .error(.badRequest, "first frame does not decode"))
            throw error
        }
        guard case let .hello(hello) = envelope.body else {
            try? await writer.send(id: 0, .error(.badRequest, "first frame must be hello"))
            throw IPCError.badHello("first frame was \(envelope.typeName)")
        }
        guard hello.protocolVersion == IPCProtocol.version else {
            let error = IPCError.versionMismatch(ours: IPCProtocol.version, theirs: hello.protocolVersion, peer: hello.service)
            try? await writer.send(id: 0, .error(.versionMismatch, error.description))
            throw error
        }
        try await writer.send(id: 0, .hello(service: configuration.service, maxFrame: configuration.maxFrame))
        // The name is the peer's claim, only for logs: keep it short and printable.
        return String(hello.service.unicodeScalars.filter { $0.isASCII && $0.value > 0x20 && $0.value < 0x7f }.prefix(64))
    }

    /// Writes reply frames; shared by the request tasks of one connection.
    struct ReplyWriter: Sendable {
        let io: ChannelIO<ByteBuffer>

        func send(id: UInt64, _ body: IPCBody) async throws {
            try await io.write(IPCCodec.encodeFrame(IPCEnvelope(id: id, body: body)))
        }
    }

    /// The connection's read loop and its open streams.
    struct Reader<Handler: IPCRequestHandler> {
        let handler: Handler
        let peer: IPCPeer
        let writer: ReplyWriter
        let configuration: IPCServerConfiguration
        let logger: Logger
        var streams: [UInt64: BodyPipe] = [:]

        init(handler: Handler, peer: IPCPeer, writer: ReplyWriter, configuration: IPCServerConfiguration, logger: Logger) {
            self.handler = handler
            self.peer = peer
            self.writer = writer
            self.configuration = configuration
            self.logger = logger
        }

        mutating func run(_ frames: ChannelIO<ByteBuffer>) async throws {
            let limiter = InFlightLimiter(limit: configuration.maxInFlightPerConnection)
            do {
                try await withThrowingDiscardingTaskGroup { group in
                    while let payload = try await frames.next() {
                        let envelope: IPCEnvelope
                        do {
                            envelope = try IPCCodec.decode(payload)
                        } catch {
                            try? await writer.send(id: 0, .error(.badRequest, "frame does not decode"))
                            throw error
                        }
                        if let request = try await route(envelope) {
                            // A stream's handler waits for chunks only this loop delivers, so
                            // the loop cannot wait for a place for it: a stream takes a place
                            // if one is free and is refused otherwise.
                            let stream = request.stream
                            if stream == nil {
                                await limiter.acquire()
                            } else if !limiter.tryAcquire() {
                                try? await writer.send(id: request.request.id, .error(.unavailable, "too many requests in flight"))
                                throw IPCError.protocolViolation("a stream beyond \(configuration.maxInFlightPerConnection) requests in flight")
                            }
                            group.addTask { [handler, writer, logger] in
                                let reply = await Self.answer(request.request, stream: stream, handler: handler, logger: logger)
                                stream?.pipe.close()
                                // Cancelled: the connection is closing (shutdown); the client
                                // sees the connection lost, not an answer made of the cancellation.
                                if !Task.isCancelled { try? await writer.send(id: request.request.id, reply) }
                                limiter.release()
                            }
                        }
                    }
                    // The peer is gone: a body it had not finished fails here, before its
                    // handler is cancelled, so it is never taken as whole.
                    failStreams(IPCError.connectionLost(service: peer.service))
                    group.cancelAll()
                }
            } catch {
                failStreams(error is CancellationError ? IPCError.connectionLost(service: peer.service) : error)
                throw error
            }
        }

        func failStreams(_ error: Error) {
            for stream in streams.values { stream.fail(error) }
        }

        /// Routes one envelope: chunks go to their stream; requests come back to be answered.
        mutating func route(_ envelope: IPCEnvelope) async throws -> (request: IPCRequest, stream: IPCBodyStream?)? {
            let id = envelope.requestID
            if envelope.hasUnknownBody {
                logger.warning("ipc request \(id): unknown message type")
                try await writer.send(id: id, .error(.unknownType, "unknown message type"))
                return nil
            }
            guard let body = envelope.body else {
                try await writer.send(id: id, .error(.badRequest, "request has no body"))
                return nil
            }
            switch body {
            case let .chunk(chunk):
                guard let stream = streams[id] else {
                    try? await writer.send(id: id, .error(.badRequest, "chunk for no open stream"))
                    throw IPCError.protocolViolation("chunk for request \(id), which has no open stream")
                }
                if chunk.abort {
                    streams[id] = nil
                    stream.fail(IPCError.streamAborted)
                    return nil
                }
                if !chunk.data.isEmpty {
                    await stream.send(ByteBuffer(bytes: chunk.data))
                }
                if chunk.last {
                    streams[id] = nil
                    stream.finish()
                }
                return nil
            case .hello:
                try? await writer.send(id: id, .error(.badRequest, "hello after the handshake"))
                throw IPCError.protocolViolation("second hello")
            default:
                break
            }
            guard id != 0 else {
                try await writer.send(id: 0, .error(.badRequest, "request id 0 is reserved for hello"))
                return nil
            }
            if let allowed = configuration.allowedRequests, !allowed.contains(envelope.typeName) {
                logger.warning("ipc \(envelope.typeName) refused: this socket answers only \(allowed.sorted().joined(separator: ", ")); connection closed")
                try? await writer.send(id: id, .error(.permissionDenied, "\(envelope.typeName) is not answered on this socket"))
                throw IPCError.protocolViolation("\(envelope.typeName) on a socket that does not answer it")
            }
            if let policy = configuration.requestPolicies[envelope.typeName], !policy.allows(peer) {
                logger.warning("ipc \(envelope.typeName) refused: \(peer) may not send it; connection closed")
                try? await writer.send(id: id, .error(.permissionDenied, "\(envelope.typeName) is not allowed to this peer"))
                throw IPCError.protocolViolation("\(envelope.typeName) from a peer that may not send it")
            }
            var stream: IPCBodyStream?
            if envelope.streamFollows {
                guard streams[id] == nil else {
                    try? await writer.send(id: id, .error(.badRequest, "request id \(id) already has an open stream"))
                    throw IPCError.protocolViolation("duplicate stream id \(id)")
                }
                guard streams.count < configuration.maxStreamsPerConnection else {
                    try? await writer.send(id: id, .error(.tooLarge, "too many open streams"))
                    throw IPCError.protocolViolation("more than \(configuration.maxStreamsPerConnection) open streams")
                }
                let pipe = BodyPipe()
                streams[id] = pipe
                stream = IPCBodyStream(pipe: pipe)
            }
            return (IPCRequest(id: id, body: body, peer: peer), stream)
        }

        /// Answers one request: ping here, everything else by the service's handler. Errors
        /// become Error bodies.
        static func answer(_ request: IPCRequest, stream: IPCBodyStream?, handler: Handler, logger: Logger) async -> IPCBody {
            do {
                if case let .ping(ping) = request.body {
                    var pong = Mailstack_Ipc_Pong()
                    pong.payload = ping.payload
                    if let stream {
                        for try await chunk in stream { pong.streamBytes += UInt64(chunk.readableBytes) }
                    }
                    return .pong(pong)
                }
                return try await handler.handle(request, stream: stream)
            } catch let error as IPCHandlerError {
                return .error(error.code, error.message)
            } catch IPCError.streamAborted {
                return .error(.badRequest, "stream aborted")
            } catch {
                logger.error("ipc request \(request.id) failed: \(error)")
                return .error(.internal, "\(error)")
            }
        }
    }
}

/// Bounds the requests of one connection answered at once (streams included); the reader stops
/// reading while the bound is reached. A lock, not an actor: taking and giving back a place are
/// a few instructions, and an actor made them two hops to its executor per request.
final class InFlightLimiter: Sendable {
    private struct State {
        var inFlight = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) { self.limit = limit }

    /// Takes a place if one is free.
    func tryAcquire() -> Bool {
        state.withLock { state in
            guard state.inFlight < limit, state.waiters.isEmpty else { return false }
            state.inFlight += 1
            return true
        }
    }

    /// Takes a place, waiting for one to be given back.
    func acquire() async {
        if state.withLock({ state in
            guard state.inFlight < limit else { return false }
            state.inFlight += 1
            return true
        }) { return }
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            // A place given back between the first look and now is taken here, not lost.
            let taken = state.withLock { state in
                if state.inFlight < limit {
                    state.inFlight += 1
                    return true
                }
                state.waiters.append(waiter)
                return false
            }
            if taken { waiter.resume() }
        }
    }

    /// Gives a place back: to the first waiter, if any (resumed outside the lock).
    func release() {
        let next: CheckedContinuation<Void, Never>? = state.withLock { state in
            if state.waiters.isEmpty {
                state.inFlight -= 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
