import NIOCore

extension Duration {
    /// The duration as NIO's TimeAmount (what every timer, deadline and connect timeout takes),
    /// saturating instead of trapping on values no timer needs (configuration values are
    /// bounded at load; this is the last guard).
    public var timeAmount: TimeAmount {
        let (seconds, attoseconds) = components
        guard seconds < Int64.max / 1_000_000_000 - 1 else { return .nanoseconds(Int64.max) }
        guard seconds >= 0 else { return .zero }
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
