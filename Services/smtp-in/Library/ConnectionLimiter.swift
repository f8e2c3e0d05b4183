import AsyncAlgorithms
import NIOCore
import Synchronization

/// A message on its way to the queue: smtp-in sends chunks as the client sends them (waiting
/// while the queue is behind), the queue's request streams them on.
public typealias SMTPMessageStream = AsyncThrowingChannel<ByteBuffer, Error>

/// Open connections, in total and per client address.
final class ConnectionLimiter: Sendable {
    let counts = Mutex((total: 0, perAddress: [String: Int]()))

    func open(_ address: String, maxTotal: Int, maxPerAddress: Int) -> Bool {
        counts.withLock { c in
            guard c.total < maxTotal, c.perAddress[address, default: 0] < maxPerAddress else { return false }
            c.total += 1
            c.perAddress[address, default: 0] += 1
            return true
        }
    }

    func close(_ address: String) {
        counts.withLock { c in
            c.total -= 1
            c.perAddress[address, default: 1] -= 1
            if c.perAddress[address] == 0 { c.perAddress[address] = nil }
        }
    }
}
