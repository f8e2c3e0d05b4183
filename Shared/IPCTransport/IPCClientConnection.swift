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
    }

    let pending = Mutex(Pending())

    init(writer: ChannelIO<ByteBuffer>, service: String) {
        self.writer = writer
        self.service = service
    }

    /// A fresh request id and the future of its reply, failed with `timeout` after `timeout`.
    func register(timeout: Duration) -> (UInt64, EventLoopFuture<IPCBody>) {
        let promise = eventLoop.makePromise(of: IPCBody.self)
        let (id, open) = pending.withLock { state in
            let id = state.nextID
            state.nextID += 1
            if !state.closed { state.waiting[id] = (promise, nil) }
            return (id, !state.closed)
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

    func complete(_ id: UInt64, with body: IPCBody) {
        guard let entry = pending.withLock({ $0.waiting.removeValue(forKey: id) }) else { return }
        entry.timer?.cancel()
        entry.promise.succeed(body)
    }

    func fail(_ id: UInt64, _ error: Error) {
        guard let entry = pending.withLock({ $0.waiting.removeValue(forKey: id) }) else { return }
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
