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
        /// Our name in EHLO ($j).
        public var hostname = "localhost"
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
        /// Domains whose mail goes only over TLS.
        public var requireTLS: Set<String> = []
        /// Idle connections kept for reuse, and for how long.
        public var idleConnections = 20
        public var idleTime: Duration = .seconds(30)
        public init() {}
    }

    /// One recipient's outcome.
    public struct Result: Equatable, Sendable {
        public var code: Int
        public var enhanced: String
        public var text: String
        public var relay: String = ""

        public init(code: Int, enhanced: String, text: String, relay: String = "") {
            self.code = code
            self.enhanced = enhanced
            self.text = text
            self.relay = relay
        }
    }

    /// A message to deliver.
    public struct Message: Sendable {
        public var id: String
        public var sender: String
        public var recipients: [Recipient]
        public var envid = ""
        public var ret = ""
        public var eightBit = false
        public var smtputf8 = false
        /// Try exchangers that failed recently too (an administrator's flush).
        public var ignoreBackoff = false
        /// CRLF lines, not dot-stuffed.
        public var body: ByteBuffer

        public init(id: String, sender: String, recipients: [Recipient], body: ByteBuffer) {
            self.id = id
            self.sender = sender
            self.recipients = recipients
            self.body = body
        }
    }

    public struct Recipient: Sendable {
        public var address: String
        public var notify: UInt32
        public var orcpt: String

        public init(address: String, notify: UInt32 = 0, orcpt: String = "") {
            self.address = address
            self.notify = notify
            self.orcpt = orcpt
        }

        var domain: String { String(address[address.index(after: address.lastIndex(of: "@") ?? address.startIndex)...]).lowercased() }
    }

    let settings: Settings
    let router: FeedRouter
    let logger: Logger
    let connections: ConnectionSlots
    let failedHosts = Mutex([String: ContinuousClock.Instant]())
    let idle = Mutex([String: [SMTPClient]]())
    let opened = Atomic<Int>(0)

    /// Connections opened so far (reused ones count once).
    public var connectionsOpened: Int { opened.load(ordering: .relaxed) }

    /// A feed whose routes come from `route` (relay-policy's mailertable answer for a domain)
    /// and `resolver` (MX, A, AAAA).
    public convenience init(settings: Settings, resolver: DNSResolver, logger: Logger,
                            route: @escaping @Sendable (String) async throws -> Mailstack_Ipc_PolicyRouteReply) {
        self.init(settings: settings, router: FeedRouter(resolver: resolver, smartHost: settings.smartHost,
                                                         defaultPort: settings.defaultPort, route: route), logger: logger)
    }

    init(settings: Settings, router: FeedRouter, logger: Logger) {
        self.settings = settings
        self.router = router
        self.logger = logger
        connections = ConnectionSlots(total: settings.maxConnections, perHost: settings.maxConnectionsPerHost)
    }

    /// Delivers `message`; returns a result per recipient, in order.
    public func deliver(_ message: Message) async -> [Result] {
        if message.body.readableBytes > settings.maxMessageSize {
            return message.recipients.map { _ in
                Result(code: 552, enhanced: "5.3.4", text: "Message is too large; \(settings.maxMessageSize) octets max")
            }
        }
        // Destinations of every domain, resolved in parallel.
        let domains = Array(Set(message.recipients.map(\.domain)))
        let found = Collected<[String: FeedRouter.Destination]>([:])
        await withDiscardingTaskGroup { group in
            for domain in domains {
                group.addTask {
                    let destination = await self.router.destination(for: domain)
                    found.value.withLock { $0[domain] = destination }
                }
            }
        }
        let destinations = found.value.withLock { $0 }
        var results = [Result?](repeating: nil, count: message.recipients.count)
        // Recipients whose destinations are the same hosts travel together (whatever the order
        // the MX shuffle gave each domain).
        var groups: [[String]: (hosts: [FeedRouter.Host], indices: [Int])] = [:]
        for (index, recipient) in message.recipients.enumerated() {
            switch destinations[recipient.domain] ?? .failed(Result(code: 451, enhanced: "4.3.0", text: "no route")) {
            case let .failed(result): results[index] = result
            case let .hosts(hosts):
                let key = hosts.map { "\($0.name):\($0.port)" }.sorted()
                groups[key, default: (hosts, [])].indices.append(index)
            }
        }
        let delivered = Collected(results)
        await withDiscardingTaskGroup { group in
            for (hosts, indices) in groups.values {
                for chunk in stride(from: 0, to: indices.count, by: settings.maxRecipients).map({ Array(indices[$0..<min($0 + settings.maxRecipients, indices.count)]) }) {
                    group.addTask {
                        let tls = chunk.contains { self.settings.requireTLS.contains(message.recipients[$0].domain) }
                        let answers = await self.deliver(message, recipients: chunk.map { message.recipients[$0] }, to: hosts, requireTLS: tls)
                        delivered.value.withLock { all in
                            for (index, answer) in zip(chunk, answers) { all[index] = answer }
                        }
                    }
                }
            }
        }
        return delivered.value.withLock { $0 }.map { $0 ?? Result(code: 451, enhanced: "4.3.0", text: "not attempted") }
    }

    /// Tries the hosts (and their addresses) in order: a host that cannot be reached or answers
    /// every recipient with a 4xx passes the message on to the next; any 2xx or 5xx is final.
    func deliver(_ message: Message, recipients: [Recipient], to hosts: [FeedRouter.Host], requireTLS: Bool) async -> [Result] {
        var last = recipients.map { _ in Result(code: 451, enhanced: "4.4.1", text: "No mail exchanger could be reached") }
        for host in hosts {
            for address in host.addresses {
                let key = "\(address):\(host.port)"
                let relay = "\(host.name) [\(address)]"
                if !message.ignoreBackoff, let until = failedHosts.withLock({ $0[key] }), until > .now {
                    last = recipients.map { _ in Result(code: 451, enhanced: "4.4.1", text: "\(relay) failed recently; not retried yet", relay: relay) }
                    continue
                }
                await connections.acquire(key)
                defer { connections.release(key) }
                switch await connection(host: host.name, address: address, port: host.port, key: key, requireTLS: requireTLS) {
                case let .failure(refusal):
                    if refusal.backoff { failedHosts.withLock { $0[key] = .now + settings.hostBackoff } }
                    last = recipients.map { _ in Result(code: refusal.reply.code, enhanced: refusal.reply.enhanced, text: refusal.reply.text, relay: relay) }
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

    struct Refusal: Error {
        var reply: Result
        /// The host is to be skipped for a while (it could not be reached or refused to talk).
        var backoff: Bool
    }

    /// A ready connection (greeted, EHLO done, TLS when offered or required), from the idle
    /// pool or new.
    func connection(host: String, address: String, port: Int, key: String, requireTLS: Bool) async -> Swift.Result<SMTPClient, Refusal> {
        if let reused = takeIdle(key) {
            do {
                try await reused.send("RSET\r\n")
                if try await reused.reply(within: settings.commandTimeout).code == 250 { return .success(reused) }
            } catch {}
            await reused.close()
        }
        let client: SMTPClient
        do {
            client = try await SMTPClient.connect(host: host, address: address, port: port, timeout: settings.connectTimeout)
            opened.add(1, ordering: .relaxed)
        } catch {
            return .failure(Refusal(reply: Result(code: 451, enhanced: "4.4.1", text: "Connection to \(host) [\(address)]:\(port) failed: \(error)"),
                                    backoff: true))
        }
        func refuse(_ reply: SMTPReply, backoff: Bool) async -> Swift.Result<SMTPClient, Refusal> {
            await client.close()
            let enhanced = reply.enhanced.isEmpty ? (reply.code >= 500 ? "5.0.0" : "4.0.0") : reply.enhanced
            return .failure(Refusal(reply: Result(code: reply.code, enhanced: enhanced, text: reply.lines.joined(separator: " ")), backoff: backoff))
        }
        do {
            let greeting = try await client.reply(within: settings.commandTimeout)
            guard greeting.code == 220 else { return await refuse(greeting, backoff: true) }
            var hello = try await client.hello(settings.hostname, timeout: settings.commandTimeout)
            guard hello.code == 250 else { return await refuse(hello, backoff: false) }
            if client.offers("STARTTLS") {
                if try await client.startTLS(serverName: host, timeout: settings.commandTimeout).code == 220 {
                    hello = try await client.hello(settings.hostname, timeout: settings.commandTimeout)
                    guard hello.code == 250 else { return await refuse(hello, backoff: false) }
                }
            }
            if requireTLS && !client.tls {
                return await refuse(SMTPReply(451, "4.7.5", "TLS is required for this destination and \(host) does not offer it"), backoff: false)
            }
            return .success(client)
        } catch {
            await client.close()
            return .failure(Refusal(reply: Result(code: 451, enhanced: "4.4.2", text: "\(host) [\(address)]: \(error)"), backoff: true))
        }
    }

    /// MAIL, RCPTs, DATA (pipelined when offered) and the message. Returns a result per
    /// recipient and whether the connection can be used again.
    func transaction(_ message: Message, recipients: [Recipient], over client: SMTPClient) async -> ([Result], Bool) {
        let relay = client.relay
        func result(_ reply: SMTPReply) -> Result {
            Result(code: reply.code, enhanced: reply.enhanced.isEmpty ? (reply.code < 400 ? "2.0.0" : reply.code < 500 ? "4.0.0" : "5.0.0") : reply.enhanced,
                   text: reply.lines.joined(separator: " "), relay: relay)
        }
        if message.smtputf8 && !client.offers("SMTPUTF8") {
            return (recipients.map { _ in Result(code: 553, enhanced: "5.6.7", text: "\(relay) does not support SMTPUTF8", relay: relay) }, true)
        }
        var mail = "MAIL FROM:<\(message.sender)>"
        if client.offers("SIZE") { mail += " SIZE=\(message.body.readableBytes)" }
        if message.eightBit && client.offers("8BITMIME") { mail += " BODY=8BITMIME" }
        if message.smtputf8 { mail += " SMTPUTF8" }
        let dsn = client.offers("DSN")
        if dsn && !message.ret.isEmpty { mail += " RET=\(message.ret)" }
        if dsn && !message.envid.isEmpty { mail += " ENVID=\(XText.encode(message.envid))" }
        let rcpts = recipients.map { r -> String in
            var line = "RCPT TO:<\(r.address)>"
            if dsn && r.notify != 0 {
                line += " NOTIFY=" + (r.notify & 8 != 0 ? "NEVER" : [(1, "SUCCESS"), (2, "FAILURE"), (4, "DELAY")].filter { r.notify & UInt32($0.0) != 0 }.map(\.1).joined(separator: ","))
            }
            if dsn && !r.orcpt.isEmpty, let semicolon = r.orcpt.firstIndex(of: ";") {
                line += " ORCPT=\(r.orcpt[..<semicolon]);\(XText.encode(String(r.orcpt[r.orcpt.index(after: semicolon)...])))"
            }
            return line
        }
        do {
            var results: [Result?] = recipients.map { _ in nil }
            let pipelining = client.offers("PIPELINING")
            if pipelining {
                try await client.send(([mail] + rcpts + ["DATA"]).joined(separator: "\r\n") + "\r\n")
            } else {
                try await client.send(mail + "\r\n")
            }
            let mailReply = try await client.reply(within: settings.commandTimeout)
            var accepted: [Int] = []
            for (i, line) in rcpts.enumerated() {
                if !pipelining {
                    guard mailReply.code == 250 else { break }
                    try await client.send(line + "\r\n")
                }
                let reply = try await client.reply(within: settings.commandTimeout)
                if mailReply.code != 250 { continue }
                if reply.code / 100 == 2 { accepted.append(i) } else { results[i] = result(reply) }
            }
            guard mailReply.code == 250 else {
                if pipelining { _ = try await client.reply(within: settings.commandTimeout) } // DATA's reply
                return (recipients.map { _ in result(mailReply) }, true)
            }
            let dataReply: SMTPReply
            if pipelining {
                dataReply = try await client.reply(within: settings.commandTimeout)
            } else if !accepted.isEmpty {
                try await client.send("DATA\r\n")
                dataReply = try await client.reply(within: settings.commandTimeout)
            } else {
                return (results.map { $0! }, true)
            }
            guard !accepted.isEmpty else {
                // Every RCPT refused but the server still said 354 to the pipelined DATA: end an
                // empty message at once (as Postfix does); its reply does not matter.
                if dataReply.code == 354 {
                    try await client.send(".\r\n")
                    _ = try await client.reply(within: settings.dataTimeout)
                }
                return (results.map { $0! }, true)
            }
            guard dataReply.code == 354 else {
                for i in accepted { results[i] = result(dataReply) }
                return (results.map { $0! }, true)
            }
            try await client.send(Self.dotStuffed(message.body, maxLine: settings.maxLine))
            let final = try await client.reply(within: settings.dataTimeout)
            for i in accepted { results[i] = result(final) }
            for (i, r) in results.enumerated() {
                logger.info("\(message.id): to=<\(recipients[i].address)>, relay=\(relay), dsn=\(r!.enhanced), stat=\(r!.code < 300 ? "Sent" : "Failed") (\(r!.code) \(r!.text))")
            }
            return (results.map { $0! }, true)
        } catch {
            return (recipients.map { _ in Result(code: 451, enhanced: "4.4.2", text: "Lost connection with \(relay): \(error)", relay: relay) }, false)
        }
    }

    /// The body with leading dots doubled, lines longer than `maxLine` octets broken, and the
    /// final CRLF.CRLF. Whole lines are copied at once (this is the hot path of large messages).
    public static func dotStuffed(_ body: ByteBuffer, maxLine: Int = 990) -> ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(body.readableBytes + body.readableBytes / 64 + 8)
        let view = body.readableBytesView
        var start = view.startIndex
        while start < view.endIndex {
            let lf = view[start...].firstIndex(of: 0x0A)
            let end = lf.map { $0 + 1 } ?? view.endIndex // the line, with its LF
            var content = end - start - (lf == nil ? 0 : 1)
            if content > 0 && lf != nil && view[end - 2] == 0x0D { content -= 1 }
            var offset = start
            var remaining = content
            repeat {
                // A line over the limit goes out in pieces of maxLine octets.
                let piece = min(remaining, maxLine)
                if view[offset] == 0x2E && piece > 0 { out.writeInteger(UInt8(0x2E)) }
                if piece < remaining {
                    out.writeBytes(view[offset..<(offset + piece)])
                    out.writeString("\r\n")
                }
                else {
                    out.writeBytes(view[offset..<end])
                    if lf == nil { out.writeString("\r\n") }
                }
                offset += piece
                remaining -= piece
            } while remaining > 0
            start = end
        }
        out.writeString(".\r\n")
        return out
    }

    func takeIdle(_ key: String) -> SMTPClient? {
        idle.withLock { pool in
            while var list = pool[key], !list.isEmpty {
                let client = list.removeLast()
                pool[key] = list.isEmpty ? nil : list
                if ContinuousClock.now - client.lastUsed < settings.idleTime { return client }
                Task { await client.close() }
            }
            return nil
        }
    }

    func release(_ client: SMTPClient) {
        client.lastUsed = .now
        let kept = idle.withLock { pool -> Bool in
            guard pool.values.map(\.count).reduce(0, +) < settings.idleConnections else { return false }
            pool[client.key, default: []].append(client)
            return true
        }
        if !kept { Task { await client.close() } }
    }
}

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
