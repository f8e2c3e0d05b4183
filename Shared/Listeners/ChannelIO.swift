import NIOCore

/// A connection's reads and writes for the task that serves it, in place of NIOAsyncChannel
/// (whose writer and sequence producer took about a quarter of smtp-in's and relay-policy's CPU
/// per message). Used by smtp-in's sessions (`Input` = decoded SMTP input) and by both ends of
/// every IPC connection (`Input` = one frame).
///
/// * Input: what the decoders made is taken one piece at a time (`next`). While pieces wait to
///   be taken the socket is not read, so what a peer sends ahead waits in the kernel's buffers,
///   never in ours: at most one read's worth is held here.
/// * Output: `write` sends at once by default. `.unlessInputWaits` holds the write while decoded
///   input waits here and `.later` holds it regardless; what is held goes out when the task next
///   waits for input, writes with a flush, or closes. (smtp-in answers a pipelined group (RFC
///   2920) in one segment this way, as Postfix's smtpd does.) A write that leaves the channel
///   unwritable (the peer is not reading) is flushed and waits until it drains; `WriteStallCloser`
///   closes a connection that never does.
/// * Several tasks may write at once (an IPC connection's requests); one task reads.
///
/// A task that runs on the channel's event loop (`Daemon.runTasksOnEventLoops`) takes a waiting
/// piece or writes with a plain call; from anywhere else each step hops to the loop first. A
/// reader cancelled while it waits closes the connection (a writer waiting for room does not: an
/// IPC connection's writers are many requests); a `ChannelIO` dropped without `close()` closes its
/// channel.
public final class ChannelIO<Input: Sendable>: Sendable {
    public enum Flush: Sendable {
        case now
        case unlessInputWaits
        case later
    }

    public let channel: Channel
    private let handler: NIOLoopBound<Handler>

    /// On the channel's event loop: puts the handler at the end of the pipeline, whose last
    /// decoder must produce `Input`.
    public init(synchronouslyOn channel: Channel) throws {
        self.channel = channel
        let handler = Handler()
        try channel.pipeline.syncOperations.addHandler(handler)
        self.handler = NIOLoopBound(handler, eventLoop: channel.eventLoop)
    }

    deinit {
        channel.close(promise: nil)
    }

    /// The next piece of input; nil once the connection is closed and everything before it was
    /// taken. Flushes what was held first.
    public func next() async throws -> Input? {
        if channel.eventLoop.inEventLoop, case let .ready(result) = handler.value.take() {
            return try result.get()
        }
        // Cancelled while waiting (the service shutting down): the connection closes, which ends
        // the wait, as NIOAsyncChannel's reader ended.
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Input?, Error>) in
                self.onLoop { $0.wait(continuation) }
            }
        } onCancel: { [channel] in
            channel.close(promise: nil)
        }
    }

    /// Writes `buffer`, flushed as `flush` says; waits only while the channel is unwritable.
    public func write(_ buffer: ByteBuffer, flush: Flush = .now) async throws {
        // On the loop the write is made here, and only a full channel is waited for; from
        // elsewhere the loop makes the write and the wait in one step.
        let written = channel.eventLoop.inEventLoop
        if written, try handler.value.write(buffer, flush: flush) { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            self.onLoop { written ? $0.waitWritable(continuation) : $0.writeAndWait(buffer, flush: flush, continuation) }
        }
    }

    /// Flushes what was written and closes the connection.
    public func close() async {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        onLoop { $0.close(promise: promise) }
        try? await promise.futureResult.get()
    }

    private func onLoop(_ body: @escaping @Sendable (Handler) -> Void) {
        if channel.eventLoop.inEventLoop {
            body(handler.value)
        } else {
            let handler = self.handler
            channel.eventLoop.execute { body(handler.value) }
        }
    }

    /// The pipeline's last handler: holds the decoded input, the waiting reader and writers, and
    /// whether a flush is owed. Lives on the event loop.
    final class Handler: ChannelDuplexHandler {
        typealias InboundIn = Input
        typealias OutboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        enum Taken {
            case ready(Result<Input?, Error>)
            case none
        }

        private var context: ChannelHandlerContext?
        private var inputs = CircularBuffer<Input>(initialCapacity: 4)
        /// How input ended, once it has: nil for a close, the error that ended it (the owner
        /// still closes the connection, and may write an answer to the error first).
        private var end: Result<Input?, Error>?
        private var closed = false
        private var reader: CheckedContinuation<Input?, Error>?
        private var writers = CircularBuffer<CheckedContinuation<Void, Error>>()
        private var readPending = false
        private var unflushed = false

        func handlerAdded(context: ChannelHandlerContext) {
            self.context = context
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            self.context = nil
            closed = true
            finish(.success(nil))
        }

        // MARK: input

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let input = unwrapInboundIn(data)
            if let reader {
                self.reader = nil
                reader.resume(returning: input)
            } else {
                inputs.append(input)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            closed = true
            finish(.success(nil))
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            finish(.failure(error))
        }

        /// Reads only when nothing waits to be taken.
        func read(context: ChannelHandlerContext) {
            if inputs.isEmpty { context.read() } else { readPending = true }
        }

        func take() -> Taken {
            flush()
            if let input = inputs.popFirst() {
                if inputs.isEmpty, readPending, let context {
                    readPending = false
                    context.read()
                }
                return .ready(.success(input))
            }
            if let end { return .ready(end) }
            return .none
        }

        func wait(_ continuation: CheckedContinuation<Input?, Error>) {
            switch take() {
            case let .ready(result):
                continuation.resume(with: result)
            case .none:
                precondition(reader == nil, "two readers of one connection")
                reader = continuation
                if readPending, let context {
                    readPending = false
                    context.read()
                }
            }
        }

        /// Ended input wakes a waiting reader; once closed, waiting writers learn the channel is
        /// gone.
        private func finish(_ how: Result<Input?, Error>) {
            if end == nil { end = how }
            // A reader waits only while nothing is held and input has not ended before.
            if let reader, let end {
                self.reader = nil
                reader.resume(with: end)
            }
            guard closed else { return }
            while let writer = writers.popFirst() {
                writer.resume(throwing: ChannelError.ioOnClosedChannel)
            }
        }

        // MARK: output

        /// Whether the writer may go on without waiting.
        func write(_ buffer: ByteBuffer, flush mode: Flush) throws -> Bool {
            guard let context, !closed else { throw ChannelError.ioOnClosedChannel }
            context.write(wrapOutboundOut(buffer), promise: nil)
            unflushed = true
            switch mode {
            case .now: flush()
            case .unlessInputWaits: if inputs.isEmpty { flush() }
            case .later: break
            }
            guard context.channel.isWritable else {
                // The flush may drain it at once (then writability has already come back).
                flush()
                return context.channel.isWritable
            }
            return true
        }

        func writeAndWait(_ buffer: ByteBuffer, flush: Flush, _ continuation: CheckedContinuation<Void, Error>) {
            do {
                _ = try write(buffer, flush: flush)
            } catch {
                return continuation.resume(throwing: error)
            }
            waitWritable(continuation)
        }

        /// For a write already made: resumes once the channel is writable again.
        func waitWritable(_ continuation: CheckedContinuation<Void, Error>) {
            if closed { return continuation.resume(throwing: ChannelError.ioOnClosedChannel) }
            if context?.channel.isWritable ?? false { return continuation.resume() }
            writers.append(continuation)
        }

        func channelWritabilityChanged(context: ChannelHandlerContext) {
            if context.channel.isWritable {
                while let writer = writers.popFirst() { writer.resume() }
            }
            context.fireChannelWritabilityChanged()
        }

        func flush() {
            guard unflushed, let context else { return }
            unflushed = false
            context.flush()
        }

        func close(promise: EventLoopPromise<Void>) {
            guard let context else { return promise.succeed() }
            flush()
            context.close(promise: promise)
        }
    }
}
