import NIOCore

/// A session's reads and writes on its connection, in place of NIOAsyncChannel (whose writer and
/// sequence producer took about a quarter of smtp-in's CPU per message).
///
/// * Input: what the decoder made is taken one piece at a time (`next`). While pieces wait to
///   be taken the socket is not read, so what a client sends ahead waits in TCP's buffers, never
///   in ours: at most one read's worth is held here.
/// * Output: a reply the client waits for goes out at once; one followed by more pipelined input
///   (the session says so, or decoded input waits here) is held, and what is held goes out when
///   the session next waits for input or closes. So the answers to a pipelined group (RFC 2920)
///   leave in one segment, not one each, as from Postfix's smtpd. A write that leaves the channel
///   unwritable (the client is not reading) is flushed and waits until it drains;
///   `WriteStallCloser` closes a connection that never does.
///
/// The session's task runs on the channel's event loop (`Daemon.runTasksOnEventLoops`), where
/// taking a waiting piece or writing is a plain call; from anywhere else each step hops to the
/// loop first.
final class SMTPChannelIO: Sendable {
    let channel: Channel
    private let handler: NIOLoopBound<Handler>

    /// On the channel's event loop: puts the handler at the end of the pipeline.
    init(synchronouslyOn channel: Channel) throws {
        self.channel = channel
        let handler = Handler()
        try channel.pipeline.syncOperations.addHandler(handler)
        self.handler = NIOLoopBound(handler, eventLoop: channel.eventLoop)
    }

    /// The next piece of input; nil once the connection is closed and everything before it was
    /// taken. Flushes the replies written so far first.
    func next() async throws -> SMTPInput? {
        if channel.eventLoop.inEventLoop, case let .ready(result) = handler.value.take() {
            return try result.get()
        }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<SMTPInput?, Error>) in
            self.onLoop { $0.wait(continuation) }
        }
    }

    /// Writes `buffer`, flushed unless `more` input follows it or input waits here; waits only
    /// while the channel is unwritable.
    func write(_ buffer: ByteBuffer, more: Bool = false) async throws {
        if channel.eventLoop.inEventLoop, try handler.value.write(buffer, more: more) { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            self.onLoop { $0.writeAndWait(buffer, more: more, continuation) }
        }
    }

    /// Flushes what was written and closes the connection.
    func close() async {
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

    /// The pipeline's last handler: holds the decoded input, the waiting session and the state
    /// of the output. Lives on the event loop.
    final class Handler: ChannelDuplexHandler {
        typealias InboundIn = SMTPInput
        typealias OutboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        enum Taken {
            case ready(Result<SMTPInput?, Error>)
            case none
        }

        private var context: ChannelHandlerContext?
        private var inputs = CircularBuffer<SMTPInput>(initialCapacity: 4)
        /// How input ended, once it has: nil for a close, the error that closed it.
        private var end: Result<SMTPInput?, Error>?
        private var reader: CheckedContinuation<SMTPInput?, Error>?
        private var writer: CheckedContinuation<Void, Error>?
        private var readPending = false
        private var unflushed = false

        func handlerAdded(context: ChannelHandlerContext) {
            self.context = context
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            finish(.success(nil))
            self.context = nil
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
            finish(.success(nil))
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            finish(.failure(error))
            context.close(promise: nil)
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

        func wait(_ continuation: CheckedContinuation<SMTPInput?, Error>) {
            switch take() {
            case let .ready(result):
                continuation.resume(with: result)
            case .none:
                precondition(reader == nil, "two readers")
                reader = continuation
                if readPending, let context {
                    readPending = false
                    context.read()
                }
            }
        }

        /// Ended input wakes a waiting session; a waiting writer learns the channel is gone.
        private func finish(_ how: Result<SMTPInput?, Error>) {
            if end == nil { end = how }
            if let reader {
                self.reader = nil
                reader.resume(with: take().result)
            }
            if let writer {
                self.writer = nil
                writer.resume(throwing: ChannelError.ioOnClosedChannel)
            }
        }

        // MARK: output

        /// Whether the session may go on without waiting.
        func write(_ buffer: ByteBuffer, more: Bool) throws -> Bool {
            guard let context, end == nil else { throw ChannelError.ioOnClosedChannel }
            context.write(wrapOutboundOut(buffer), promise: nil)
            unflushed = true
            if !more && inputs.isEmpty { flush() }
            guard context.channel.isWritable else {
                // The flush may drain it at once (then writability has already come back).
                flush()
                return context.channel.isWritable
            }
            return true
        }

        func writeAndWait(_ buffer: ByteBuffer, more: Bool, _ continuation: CheckedContinuation<Void, Error>) {
            do {
                if try write(buffer, more: more) { return continuation.resume() }
                precondition(writer == nil, "two writers")
                writer = continuation
            } catch {
                continuation.resume(throwing: error)
            }
        }

        func channelWritabilityChanged(context: ChannelHandlerContext) {
            if context.channel.isWritable, let writer {
                self.writer = nil
                writer.resume()
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

extension SMTPChannelIO.Handler.Taken {
    var result: Result<SMTPInput?, Error> {
        switch self {
        case let .ready(result): return result
        case .none: return .success(nil)
        }
    }
}
