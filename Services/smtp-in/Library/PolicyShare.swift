import NIOCore
import Synchronization

/// relay-policy's time shared fairly between SMTP sessions: at most `maxInFlight` questions are
/// out at once; beyond that, waiting questions are let through one session at a time in turn
/// (round robin), so a client that pipelines hundreds of RCPTs, or opens many connections, waits
/// behind its own questions while another session's one RCPT goes next.
final class PolicyShare: Sendable {
    struct State {
        var inFlight = 0
        var waiting: [UInt64: CircularBuffer<CheckedContinuation<Void, Never>>] = [:]
        /// Sessions with waiting questions, in turn order.
        var turns: CircularBuffer<UInt64> = []
    }

    let maxInFlight: Int
    let state = Mutex(State())
    let nextSession = Atomic<UInt64>(0)

    init(maxInFlight: Int) {
        self.maxInFlight = maxInFlight
    }

    /// A new session's id.
    func session() -> UInt64 {
        nextSession.wrappingAdd(1, ordering: .relaxed).newValue
    }

    /// Runs `question` once it is `session`'s turn.
    func ask<T>(_ session: UInt64, _ question: () async throws -> T) async throws -> T {
        await acquire(session)
        defer { release() }
        return try await question()
    }

    func acquire(_ session: UInt64) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.inFlight < maxInFlight {
                    s.inFlight += 1
                    return true
                }
                if s.waiting[session] == nil { s.turns.append(session) }
                s.waiting[session, default: []].append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Hands the freed place to the next session in turn, or gives it back.
    func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard let session = s.turns.popFirst() else {
                s.inFlight -= 1
                return nil
            }
            let continuation = s.waiting[session]!.removeFirst()
            if s.waiting[session]!.isEmpty {
                s.waiting[session] = nil
            } else {
                s.turns.append(session)
            }
            return continuation
        }
        next?.resume()
    }
}
