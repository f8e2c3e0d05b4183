import Synchronization

/// Open connections of a listener, in total and per client (smtp-in's and pop3's caps). Clients
/// are counted by `ClientGroup`: an IPv6 /64 is one client.
public final class ConnectionLimiter: Sendable {
    let counts = Mutex((total: 0, perAddress: [String: Int]()))

    public init() {}

    /// Connections open now.
    public var total: Int { counts.withLock { $0.total } }

    /// Counts a new connection from `address`; false (and nothing counted) over either cap.
    public func open(_ address: String, maxTotal: Int, maxPerAddress: Int) -> Bool {
        let address = ClientGroup.key(for: address)
        return counts.withLock { c in
            guard c.total < maxTotal, c.perAddress[address, default: 0] < maxPerAddress else { return false }
            c.total += 1
            c.perAddress[address, default: 0] += 1
            return true
        }
    }

    public func close(_ address: String) {
        let address = ClientGroup.key(for: address)
        counts.withLock { c in
            c.total -= 1
            c.perAddress[address, default: 1] -= 1
            if c.perAddress[address] == 0 { c.perAddress[address] = nil }
        }
    }
}
