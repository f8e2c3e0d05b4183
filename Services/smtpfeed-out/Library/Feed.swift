#if canImport(Glibc)
import Glibc
#endif
import DNS
import IPC
import Logging
import NIOCore
import SMTP
import Synchronization

/// smtpfeed-out's delivery engine: one message and its recipients in, one result per recipient
/// out. Recipients are grouped by destination (domains whose mail exchangers are the same hosts
/// share one transaction: smtpfeed's piggybacking), destinations are resolved and delivered in
/// parallel within the connection limits, a host that failed is skipped for a while, and idle
/// connections are kept for further messages to the same host.
public final class Feed: Sendable {
    public struct Settings: Sendable {
        /// Our name in EHLO ($j). A server that greets or answers EHLO with it is this host:
        /// its recipients fail with sendmail's "mail loops back to me".
        public var hostname = "localhost"
        /// This host's names ($j and host.local_names, lowercase): an MX host among them is
        /// this host, and it and every MX of equal or lower preference are dropped.
        public var localNames: Set<String> = []
        public var defaultPort = 25
        public var smartHost: String?
        public var maxMessageSize = 5_000_000
        /// The smtpf mailer's L=: longer lines are broken (CRLF inserted) before sending.
        public var maxLine = 990
        public var maxRecipients = 100
        public var maxConnections = 100
        public var maxConnectionsPerHost = 20
        public var connectTimeout: Duration = .seconds(30)
        /// RFC 5321 4.5.3.2: greeting, EHLO, MAIL, RCPT 5 minutes; DATA 2; the final dot 10.
        public var commandTimeout: Duration = .seconds(300)
        public var dataTimeout: Duration = .seconds(600)
        /// A host that failed (no connection, 4xx greeting) is not tried again for this long.
        public var hostBackoff: Duration = .seconds(300)
        /// Domains whose mail goes only over TLS with a verified certificate.
        public var requireTLS: Set<String> = []
        /// Domains whose mail goes only over TLS to a server presenting one of these leaf
        /// certificates (SHA-256 of the DER, hexadecimal).
        public var tlsFingerprints: [String: CertificatePins] = [:]
        /// CA certificates (a PEM file) trusted instead of the system store, for tests; nil:
        /// the system's.
        public var trustRootsFile: String?
        /// DKIM signing of mail from our domains (dkim.keys); nil: nothing is signed.
        public var signer: FeedSigner?
        /// Idle connections kept for reuse, and for how long.
        public var idleConnections = 20
        public var idleTime: Duration = .seconds(30)
        public init() {}

        /// The TLS a domain's mail needs: a pin wins over require_tls.
        public func tlsPolicy(for domain: String) -> OutboundTLSPolicy {
            if let pins = tlsFingerprints[domain] { return .pinned(pins) }
            return requireTLS.contains(domain) ? .verified : .opportunistic
        }
    }


    /// A message to deliver.
    public struct Message: Sendable {
        public var id: String
        public var sender: String
        public var recipients: [EnvelopeRecipient]
        /// Each recipient's mailertable route, in order (missing ones: MX routing).
        public var routes: [MailRoute] = []
        public var envid = ""
        public var ret: DSNReturn?
        public var eightBit = false
        public var smtputf8 = false
        /// Try exchangers that failed recently too (an administrator's flush).
        public var ignoreBackoff = false
        /// CRLF lines, not dot-stuffed.
        public var body: ByteBuffer

        public init(id: String, sender: String, recipients: [EnvelopeRecipient], body: ByteBuffer) {
            self.id = id
            self.sender = sender
            self.recipients = recipients
            self.body = body
        }

        func route(of index: Int) -> MailRoute { index < routes.count ? routes[index] : .mx }
    }

    let settings: Settings
    let router: FeedRouter
    let logger: Logger
    let tls: OutboundTLSContexts
    let connections: ConnectionSlots
    let failedHosts = Mutex([String: ContinuousClock.Instant]())
    let idle = Mutex([String: [SMTPClient]]())
    let opened = Atomic<Int>(0)

    /// Connections opened so far (reused ones count once).
    public var connectionsOpened: Int { opened.load(ordering: .relaxed) }

    /// A feed; each message brings its recipients' routes (relay-policy's mailertable answers)
    /// and `resolver` (MX, A, AAAA).
    public convenience init(settings: Settings, resolver: DNSResolver, logger: Logger) {
        self.init(settings: settings, router: FeedRouter(resolver: resolver, smartHost: settings.smartHost, defaultPort: settings.defaultPort,
                                                         localNames: settings.localNames), logger: logger)
    }

    init(settings: Settings, router: FeedRouter, logger: Logger) {
        self.settings = settings
        self.router = router
        self.logger = logger
        tls = OutboundTLSContexts(trustRootsFile: settings.trustRootsFile)
        connections = ConnectionSlots(total: settings.maxConnections, perHost: settings.maxConnectionsPerHost)
    }

    /// Delivers `message`; returns a result per recipient, in order.
    public func deliver(_ message: Message) async -> [DeliveryResult] {
        if message.body.readableBytes > settings.maxMessageSize {
            return message.recipients.map { _ in
                DeliveryResult(code: 552, enhanced: "5.3.4", text: "Message is too large; \(settings.maxMessageSize) octets max")
            }
        }
        var signed = message
        switch settings.signer?.sign(message.body, maxLine: settings.maxLine) ?? .notOurs {
        case .notOurs: break
        case let .signed(body, signatures):
            signed.body = body
            logger.info("\(message.id): dkim signed, \(signatures.joined(separator: "; "))")
        case let .failed(reason, permanent):
            // A configured domain's mail never leaves unsigned: it waits (or is returned when it
            // can never be signed), and the log says why.
            logger.error("\(message.id): dkim signing failed, message \(permanent ? "returned" : "deferred"): \(reason)")
            let result = permanent ? DeliveryResult(code: 554, enhanced: "5.6.0", text: "DKIM signing failed: \(reason)")
                : DeliveryResult(code: 451, enhanced: "4.7.0", text: "DKIM signing failed; will retry")
            return message.recipients.map { _ in result }
        }
        return await deliverSigned(signed)
    }

    /// Delivers `message` as it is (signed if it is ours).
    func deliverSigned(_ message: Message) async -> [DeliveryResult] {
        // Destinations of every domain and its route, resolved in parallel.
        let ways = message.recipients.indices.map { FeedRouter.Way(domain: message.recipients[$0].domain, route: message.route(of: $0)) }
        let found = Collected<[FeedRouter.Way: FeedRouter.Destination]>([:])
        await withDiscardingTaskGroup { group in
            for way in Set(ways) {
                group.addTask {
                    let destination = await self.router.destination(for: way)
                    found.value.withLock { $0[way] = destination }
                }
            }
        }
        let destinations = found.value.withLock { $0 }
        var results = [DeliveryResult?](repeating: nil, count: message.recipients.count)
        // Recipients whose destinations are the same hosts travel together (whatever the order
        // the MX shuffle gave each domain), if their domains need the same TLS.
        struct Group: Hashable {
            var hosts: [String]
            var tls: OutboundTLSPolicy
        }
        var groups: [Group: (hosts: [FeedRouter.Host], tls: OutboundTLSPolicy, indices: [Int])] = [:]
        for (index, recipient) in message.recipients.enumerated() {
            switch destinations[ways[index]] ?? .failed(DeliveryResult(code: 451, enhanced: "4.3.0", text: "no route")) {
            case let .failed(result): results[index] = result
            case let .hosts(hosts):
                let tls = settings.tlsPolicy(for: recipient.domain)
                let key = Group(hosts: hosts.map { "\($0.name):\($0.port)" }.sorted(), tls: tls)
                groups[key, default: (hosts, tls, [])].indices.append(index)
            }
        }
        let delivered = Collected(results)
        await withDiscardingTaskGroup { group in
            for (hosts, tls, indices) in groups.values {
                for chunk in stride(from: 0, to: indices.count, by: settings.maxRecipients).map({ Array(indices[$0..<min($0 + settings.maxRecipients, indices.count)]) }) {
                    group.addTask {
                        let answers = await self.deliver(message, recipients: chunk.map { message.recipients[$0] }, to: hosts, tls: tls)
                        delivered.value.withLock { all in
                            for (index, answer) in zip(chunk, answers) { all[index] = answer }
                        }
                    }
                }
            }
        }
        return delivered.value.withLock { $0 }.map { $0 ?? DeliveryResult(code: 451, enhanced: "4.3.0", text: "not attempted") }
    }

    /// Tries the hosts (and their addresses) in order: a host that cannot be reached or answers
    /// every recipient with a 4xx passes the message on to the next; any 2xx or 5xx is final.
    func deliver(_ message: Message, recipients: [EnvelopeRecipient], to hosts: [FeedRouter.Host], tls: OutboundTLSPolicy) async -> [DeliveryResult] {
        var last = recipients.map { _ in DeliveryResult(code: 451, enhanced: "4.4.1", text: "No mail exchanger could be reached") }
        for host in hosts {
            for address in host.addresses {
                let key = "\(address):\(host.port)"
                let relay = "\(host.name) [\(address)]"
                if !message.ignoreBackoff, let until = failedHosts.withLock({ $0[key] }), until > .now {
                    last = recipients.map { _ in DeliveryResult(code: 451, enhanced: "4.4.1", text: "\(relay) failed recently; not retried yet", relay: relay) }
                    continue
                }
                await connections.acquire(key)
                defer { connections.release(key) }
                switch await connection(host: host.name, address: address, port: host.port, tls: tls) {
                case let .failure(refusal):
                    if refusal.backoff { failedHosts.withLock { $0[key] = .now + settings.hostBackoff } }
                    last = recipients.map { _ in DeliveryResult(code: refusal.reply.code, enhanced: refusal.reply.enhanced, text: refusal.reply.text, relay: relay) }
                    if refusal.reply.code >= 500 { return last }
                case let .success(client):
                    let (answers, reusable) = await transaction(message, recipients: recipients, over: client)
                    if reusable {
                        release(client)
                    } else {
                        // The connection broke or timed out mid-transaction: skip the host for a while.
                        await client.close()
                        failedHosts.withLock { $0[key] = .now + settings.hostBackoff }
                    }
                    last = answers
                    if !answers.allSatisfy({ (400..<500).contains($0.code) }) { return answers }
                }
            }
        }
        return last
    }
}
