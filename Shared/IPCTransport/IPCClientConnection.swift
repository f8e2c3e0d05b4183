import Foundation
import IPC
import Listeners
import NIOCore
import Timing
import Synchronization

/// One live client connection: its writer and the requests waiting for their replies. Each
/// pending request is completed exactly once: by its reply, its timeout, or the connection's end,
/// whichever takes it out of `pending` first.
final class IPCClientConnection: Sendable {
    let writer: ChannelIO<ByteBuffer>
    let service: String
    var eventLoop: EventLoop { writer.channel.eventLoop }

    struct Pending {
        var nextID: UInt64 = 1
        var waiting: [UInt64: (promise: EventLoopPromise<IPCBody>, timer: Scheduled<Void>?)] = [:]
        var closed = false
        /// Closed by the client because no request used it for its idle time (`retireIfIdle`):
        /// a request that still finds it takes another connection instead of failing.
        var retired = false
        /// When a request last started, or the last one waiting ended.
        var lastUsed = NIODeadline.now()
    }

    /// Whether `retireIfIdle` closed the connection, or when to ask again.
    enum Idleness: Equatable {
        case retired
        case usedUntil(NIODeadline)
    }

    let pending = Mutex(Pending())

    init(writer: ChannelIO<ByteBuffer>, service: String) {
        self.writer = writer
        self.service = service
    }

    /// A fresh request id and the future of its reply, failed with `timeout` after `timeout`;
    /// nil when the connection was retired (the request is to take another).
    func register(timeout: Duration) -> (UInt64, EventLoopFuture<IPCBody>)? {
        let promise = eventLoop.makePromise(of: IPCBody.self)
        let (id, open, retired) = pending.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.lastUsed = .now()
            if !state.closed { state.waiting[id] = (promise, nil) }
            return (id, !state.closed, state.retired)
        }
        if retired {
            promise.fail(IPCError.connectionLost(service: service))
            return nil
        }
        guard open else {
            promise.fail(IPCError.connectionLost(service: service))
            return (id, promise.futureResult)
        }
        let service = self.service
        let timer = eventLoop.scheduleTask(in: timeout.timeAmount) { [weak self] in
            guard let self else { return }
            self.fail(id, IPCError.timeout(service: service, seconds: Double(timeout.components.seconds)
                                               + Double(timeout.components.attoseconds) / 1e18))
        }
        let armed = pending.withLock { state -> Bool in
            guard state.waiting[id] != nil else { return false }
            state.waiting[id]?.timer = timer
            return true
        }
        if !armed { timer.cancel() }
        return (id, promise.futureResult)
    }

    /// Closes the connection to new requests if none has used it for `idle` by `now`.
    func retireIfIdle(_ idle: TimeAmount, now: NIODeadline) -> Idleness {
        pending.withLock { state in
            if !state.waiting.isEmpty { return .usedUntil(now + idle) }
            guard now - state.lastUsed >= idle else { return .usedUntil(state.lastUsed + idle) }
            state.closed = true
            state.retired = true
            return .retired
        }
    }

    var isRetired: Bool { pending.withLock { $0.retired } }

    /// Takes request `id` out of `pending`; the last one out marks the connection's last use.
    private func remove(_ id: UInt64) -> (promise: EventLoopPromise<IPCBody>, timer: Scheduled<Void>?)? {
        pending.withLock { state in
            defer { if state.waiting.isEmpty { state.lastUsed = .now() } }
            return state.waiting.removeValue(forKey: id)
        }
    }

    func complete(_ id: UInt64, with body: IPCBody) {
        guard let entry = remove(id) else { return }
        entry.timer?.cancel()
        entry.promise.succeed(body)
    }

    func fail(_ id: UInt64, _ error: Error) {
        guard let entry = remove(id) else { return }
        entry.timer?.cancel()
        entry.promise.fail(error)
    }

    /// The connection ended: every request still waiting fails.
    func failAll(_ error: Error) {
        let all = pending.withLock { state in
            state.closed = true
            defer { state.waiting.removeAll() }
            return Array(state.waiting.values)
        }
        for entry in all {
            entry.timer?.cancel()
            entry.promise.fail(error)
        }
    }
}
