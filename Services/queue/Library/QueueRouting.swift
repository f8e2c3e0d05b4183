/// How the queue reaches the rest of the stack: relay-policy for where a recipient goes,
/// smtpfeed-out for remote delivery. Given as closures, so the service wires IPC in and the
/// logic is tested with the real services or with a table.
public struct QueueRouting: Sendable {
    public enum Route: Equatable, Sendable {
        case local(mailbox: String)
        case remote(address: String)
        case failed(RecipientResult)
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
    public var deliverRemote: @Sendable (RemoteJob) async throws -> [RecipientResult]

    public init(resolve: @escaping @Sendable (String) async throws -> Route,
                deliverRemote: @escaping @Sendable (RemoteJob) async throws -> [RecipientResult]) {
        self.resolve = resolve
        self.deliverRemote = deliverRemote
    }
}

/// The outcome of one delivery attempt for one recipient: an SMTP reply.
public struct RecipientResult: Equatable, Sendable {
    public var code: Int
    public var enhanced: String
    public var text: String
    /// Who answered: "host [address]" for remote deliveries, "local" for a Maildir.
    public var relay: String
    /// The failure was on our side: relay-policy or smtpfeed-out could not be asked.
    public var ourSide: Bool
    /// The next hop offered DSN and was given NOTIFY: it reports on this recipient from now on,
    /// and a "relayed" success notification from us would be wrong (RFC 3461 5.2.1).
    public var dsnPassedOn: Bool

    public init(code: Int, enhanced: String, text: String, relay: String = "", ourSide: Bool = false, dsnPassedOn: Bool = false) {
        self.code = code
        self.enhanced = enhanced
        self.text = text
        self.relay = relay
        self.ourSide = ourSide
        self.dsnPassedOn = dsnPassedOn
    }

    public var isSuccess: Bool { (200..<300).contains(code) }
    public var isPermanent: Bool { code >= 500 }
    public var diagnostic: String { "\(code) \(enhanced) \(text)" }
}
