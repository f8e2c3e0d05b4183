import NIOCore
import Synchronization

/// The chunks of one streamed request body, as the request's handler reads them.
///
/// The connection's reader puts chunks in and the handler takes them out; what is put in waits
/// here only up to `BodyPipe.holdLimit` octets, beyond which the reader stops reading the
/// connection until the handler has taken what waits. A small message, whose chunk and end come
/// in one read, is put in whole before its handler first runs, so the handler reads it without
/// waiting and the reader goes on without waiting for the handler (two task switches fewer per
/// message than a rendezvous channel).
public struct IPCBodyStream: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    let pipe: BodyPipe

    public struct AsyncIterator: AsyncIteratorProtocol {
        let pipe: BodyPipe

        public mutating func next() async throws -> ByteBuffer? {
            try await pipe.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(pipe: pipe)
    }

    /// Reads the whole stream into one buffer, refusing more than `limit` octets.
    public func collect(upTo limit: Int) async throws -> ByteBuffer {
        var all = ByteBuffer()
        for try await var chunk in self {
            guard all.readableBytes + chunk.readableBytes <= limit else {
                throw IPCHandlerError(.tooLarge, "stream exceeds \(limit) octets")
            }
            all.writeBuffer(&chunk)
        }
        return all
    }
}

/// One stream's chunks between the connection's reader (`send`, `finish`, `fail`) and the
/// request's handler (`next`; `close` once it has answered). One sender, one reader.
final class BodyPipe: Sendable {
    /// Octets held for a handler that has not taken them before the sender waits. With the
    /// in-flight bound of a connection this bounds what one connection holds.
    static let holdLimit = 64 * 1024

    private struct State {
        var chunks = CircularBuffer<ByteBuffer>(initialCapacity: 2)
        var held = 0
        /// How the body ended: nil while chunks may come, success at its end, the error that
        /// cut it short.
        var end: Result<Void, Error>?
        /// The handler has answered: what still comes is dropped.
        var closed = false
        var readerCancelled = false
        var senderCancelled = false
        var reader: CheckedContinuation<ByteBuffer?, Error>?
        var sender: CheckedContinuation<Void, Never>?

        /// The next chunk or the end, if there is one, and a waiting sender that may go on now.
        mutating func take() -> (Result<ByteBuffer?, Error>, CheckedContinuation<Void, Never>?)? {
            if let chunk = chunks.popFirst() {
                held -= chunk.readableBytes
                var sender: CheckedContinuation<Void, Never>?
                if held <= BodyPipe.holdLimit {
                    sender = self.sender
                    self.sender = nil
                }
                return (.success(chunk), sender)
            }
            switch end {
            case .success: return (.success(nil), nil)
            case let .failure(error): return (.failure(error), nil)
            case nil: return nil
            }
        }

        var mayGoOn: Bool { closed || senderCancelled || held <= BodyPipe.holdLimit }
    }

    private let state = Mutex(State())

    /// For tests: what the pipe holds, and who waits.
    var held: Int { state.withLock { $0.held } }
    var senderWaits: Bool { state.withLock { $0.sender != nil } }
    var readerWaits: Bool { state.withLock { $0.reader != nil } }

    // MARK: the connection's reader

    /// Puts a chunk in for the handler; waits while more than `holdLimit` octets wait for it.
    func send(_ chunk: ByteBuffer) async {
        let (reader, wait): (CheckedContinuation<ByteBuffer?, Error>?, Bool) = state.withLock { state in
            guard !state.closed, state.end == nil else { return (nil, false) }
            if let reader = state.reader {
                state.reader = nil
                return (reader, false)
            }
            state.chunks.append(chunk)
            state.held += chunk.readableBytes
            return (nil, !state.mayGoOn)
        }
        reader?.resume(returning: chunk)
        guard wait else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (sender: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state in
                    if state.mayGoOn { return true }
                    state.sender = sender
                    return false
                }
                if now { sender.resume() }
            }
        } onCancel: {
            let sender = state.withLock { state in
                state.senderCancelled = true
                defer { state.sender = nil }
                return state.sender
            }
            sender?.resume()
        }
    }

    /// The body is whole.
    func finish() {
        end(.success(()))
    }

    /// The body will not be whole (aborted, connection lost): the handler's next read throws.
    func fail(_ error: Error) {
        end(.failure(error))
    }

    private func end(_ how: Result<Void, Error>) {
        let reader: CheckedContinuation<ByteBuffer?, Error>? = state.withLock { state in
            guard state.end == nil else { return nil }
            state.end = how
            defer { state.reader = nil }
            return state.reader
        }
        switch how {
        case .success: reader?.resume(returning: nil)
        case let .failure(error): reader?.resume(throwing: error)
        }
    }

    // MARK: the request's handler

    /// The next chunk; nil at the end of a whole body. Throws the error that cut the body short,
    /// or CancellationError if the handler is cancelled while it waits.
    func next() async throws -> ByteBuffer? {
        if case let (result, sender)? = state.withLock({ $0.take() }) {
            sender?.resume()
            return try result.get()
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (reader: CheckedContinuation<ByteBuffer?, Error>) in
                let ready: (Result<ByteBuffer?, Error>, CheckedContinuation<Void, Never>?)? = state.withLock { state in
                    if let taken = state.take() { return taken }
                    if state.readerCancelled { return (.failure(CancellationError()), nil) }
                    state.reader = reader
                    return nil
                }
                if case let (result, sender)? = ready {
                    sender?.resume()
                    reader.resume(with: result)
                }
            }
        } onCancel: {
            let reader = state.withLock { state in
                state.readerCancelled = true
                defer { state.reader = nil }
                return state.reader
            }
            reader?.resume(throwing: CancellationError())
        }
    }

    /// The handler has answered: chunks still held or still to come are dropped, and a waiting
    /// sender goes on.
    func close() {
        let sender: CheckedContinuation<Void, Never>? = state.withLock { state in
            state.closed = true
            state.chunks.removeAll()
            state.held = 0
            defer { state.sender = nil }
            return state.sender
        }
        sender?.resume()
    }
}
