import Synchronization

/// Connection slots: a total and a per-host cap; waiters queue until a slot frees.
final class ConnectionSlots: Sendable {
    struct State {
        var total = 0
        var perHost: [String: Int] = [:]
        var waiting: [(key: String, resume: CheckedContinuation<Void, Never>)] = []
    }

    let maxTotal: Int
    let maxPerHost: Int
    let state = Mutex(State())

    init(total: Int, perHost: Int) {
        maxTotal = total
        maxPerHost = perHost
    }

    func acquire(_ key: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = state.withLock { s -> Bool in
                if s.total < maxTotal && s.perHost[key, default: 0] < maxPerHost {
                    s.total += 1
                    s.perHost[key, default: 0] += 1
                    return true
                }
                s.waiting.append((key, continuation))
                return false
            }
            if granted { continuation.resume() }
        }
    }

    func release(_ key: String) {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.total -= 1
            s.perHost[key, default: 1] -= 1
            if let index = s.waiting.firstIndex(where: { s.perHost[$0.key, default: 0] < maxPerHost }) {
                let waiter = s.waiting.remove(at: index)
                s.total += 1
                s.perHost[waiter.key, default: 0] += 1
                return waiter.resume
            }
            return nil
        }
        next?.resume()
    }
}

/// What concurrent child tasks of one delivery fill in (their results are gathered here rather
/// than returned through the task group: the queue crashed in release builds when routes came
/// back as task-group results, see MailQueue.resolveAll).
final class Collected<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ initial: Value) { value = Mutex(initial) }
}
