import SMTP

/// How the queue reaches the rest of the stack: relay-policy for where a recipient goes,
/// smtpfeed-out for remote delivery. Given as closures, so the service wires IPC in and the
/// logic is tested with the real services or with a table.
public struct QueueRouting: Sendable {
    public enum Route: Equatable, Sendable {
        case local(mailbox: String)
        case remote(address: String)
        case failed(DeliveryResult)
    }

    /// A remote delivery request: the envelope with the addresses to send to, and the body.
    public struct RemoteJob: Sendable {
        public var envelope: QueueEnvelope
        public var body: [UInt8]
        /// An administrator's flush: smtpfeed-out tries hosts that failed recently too.
        public var ignoreBackoff = false
    }

    public var resolve: @Sendable (String) async throws -> Route
    /// One result per recipient of the job, in order. Throws when smtpfeed-out cannot be asked
    /// (every recipient is then deferred).
    public var deliverRemote: @Sendable (RemoteJob) async throws -> [DeliveryResult]

    public init(resolve: @escaping @Sendable (String) async throws -> Route,
                deliverRemote: @escaping @Sendable (RemoteJob) async throws -> [DeliveryResult]) {
        self.resolve = resolve
        self.deliverRemote = deliverRemote
    }
}
