import Synchronization

/// Open connections of a listener, in total and per client address (smtp-in's and pop3's caps).
public final class ConnectionLimiter: Sendable {
    let counts = Mutex((total: 0, perAddress: [String: Int]()))

    public init() {}

    /// Counts a new connection from `address`; false (and nothing counted) over either cap.
    public func open(_ address: String, maxTotal: Int, maxPerAddress: Int) -> Bool {
        counts.withLock { c in
            guard c.total < maxTotal, c.perAddress[address, default: 0] < maxPerAddress else { return false }
            c.total += 1
            c.perAddress[address, default: 0] += 1
            return true
        }
    }

    public func close(_ address: String) {
        counts.withLock { c in
            c.total -= 1
            c.perAddress[address, default: 1] -= 1
            if c.perAddress[address] == 0 { c.perAddress[address] = nil }
        }
    }
}
