import SMTP

/// How the queue reaches the rest of the stack: relay-policy for where a recipient goes (one
/// answer with every target and route), smtpfeed-out for remote delivery, local-delivery for
/// an alias's programs and files. Given as closures, so the service wires IPC in and the logic
/// is tested with the real services or with a table.
public struct QueueRouting: Sendable {
    /// A remote delivery request: the envelope with the addresses to send to, each with its
    /// mailertable route, and the body.
    public struct RemoteJob: Sendable {
        public var envelope: QueueEnvelope
        public var routes: [MailRoute]
        public var body: [UInt8]
        /// An administrator's flush: smtpfeed-out tries hosts that failed recently too.
        public var ignoreBackoff = false
    }

    /// A program or file delivery: the target, for whom, and the body.
    public struct LocalJob: Sendable {
        public var queueID: String
        public var sender: String
        public var recipient: EnvelopeRecipient
        public var target: MailTarget
        public var body: [UInt8]
    }

    /// A recipient's targets (relay-policy's policy.resolve).
    public var resolve: @Sendable (String) async throws -> [MailTarget]
    /// One result per recipient of the job, in order. Throws when smtpfeed-out cannot be asked
    /// (every recipient is then deferred).
    public var deliverRemote: @Sendable (RemoteJob) async throws -> [DeliveryResult]
    /// Throws when local-delivery cannot be asked (the target is then deferred).
    public var deliverLocal: @Sendable (LocalJob) async throws -> DeliveryResult

    public init(resolve: @escaping @Sendable (String) async throws -> [MailTarget],
                deliverRemote: @escaping @Sendable (RemoteJob) async throws -> [DeliveryResult],
                deliverLocal: @escaping @Sendable (LocalJob) async throws -> DeliveryResult) {
        self.resolve = resolve
        self.deliverRemote = deliverRemote
        self.deliverLocal = deliverLocal
    }
}
