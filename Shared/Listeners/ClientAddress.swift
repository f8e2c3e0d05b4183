import NIOCore

extension SocketAddress {
    /// The client's address as the policy and the logs know it: an IPv4 client reaching a
    /// dual-stack socket (systemd's `ListenStream=25` is `[::]:25`) shows as `::ffff:a.b.c.d`;
    /// it is given back as `a.b.c.d`, so access lists, drac entries and log lines are the same
    /// whichever socket accepted it.
    public var clientAddress: String? {
        guard let address = ipAddress else { return nil }
        return Self.unmapped(address)
    }

    /// `::ffff:a.b.c.d` (any case) as `a.b.c.d`; any other address unchanged.
    public static func unmapped(_ address: String) -> String {
        let lower = address.lowercased()
        guard lower.hasPrefix("::ffff:") else { return address }
        let v4 = address.dropFirst(7)
        let parts = v4.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) else { return address }
        return String(v4)
    }
}
