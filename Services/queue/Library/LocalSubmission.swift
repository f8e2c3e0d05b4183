#if canImport(Glibc)
import Glibc
#endif
import IPC
import IPCTransport
import Logging
import NIOCore
import SMTP
import Synchronization

/// Local submission: mail from the sendmail command of any local user, over submit.sock. The
/// user is the kernel's answer for the peer (SO_PEERCRED), never the request's: the envelope
/// sender is that user's name at the masquerade domain unless the request asks for another
/// (-f), which an untrusted user gets with sendmail's X-Authentication-Warning:. The queue
/// writes the trace field (Received: naming the user), completes the header (From: here,
/// Date: and Message-ID: in the HeaderRewriter), makes every line end in CRLF, and then takes
/// the message through the same path as smtp-in's (`accept`: masquerading, the spool's
/// durability, aliases and routing at delivery). Limits: smtp.max_message_size,
/// smtp.max_recipients, and submit.max_messages_per_minute per uid (a temporary refusal).
public final class LocalSubmission: Sendable {
    public struct Settings: Sendable {
        /// $j: the Received: and warning fields, and the domain of unqualified recipients.
        public var hostname = "localhost"
        /// The domain of a user's own address: masquerade.as, else host.fqdn.
        public var senderDomain = "localhost"
        /// The host's names: `user@name` is the user's own address (no warning for it).
        public var localNames: Set<String> = []
        /// submit.trusted_users as uids; root and the queue's own user are always trusted.
        public var trustedUIDs: Set<UInt32> = []
        /// PrivacyOptions authwarnings (goaway includes it).
        public var authWarnings = true
        /// smtp.max_message_size, for the user's octets.
        public var maxMessageSize = 5_242_880
        public var maxRecipients = 100
        /// submit.max_messages_per_minute; 0: no limit.
        public var maxPerMinute = 60
        public init() {}
    }

    let queue: MailQueue
    public let settings: Settings
    let users: @Sendable (UInt32) -> LocalUser?
    let limiter: SubmissionRateLimit
    let logger: Logger

    public init(queue: MailQueue, settings: Settings, logger: Logger,
                users: @escaping @Sendable (UInt32) -> LocalUser? = LocalUser.lookup) {
        self.queue = queue
        self.settings = settings
        self.users = users
        self.logger = logger
        limiter = SubmissionRateLimit(limit: settings.maxPerMinute)
    }

    /// Whether a uid may set any sender without a warning and is not rate limited.
    func isTrusted(_ uid: UInt32) -> Bool {
        uid == 0 || uid == getuid() || settings.trustedUIDs.contains(uid)
    }

    /// Takes the message once it is durable; returns its id and stored size.
    public func submit<Body: AsyncSequence>(_ request: Mailstack_Ipc_QueueSubmitLocal, peer: IPCPeer, body: Body) async throws
        -> (id: String, size: Int) where Body.Element == ByteBuffer {
        guard let user = users(peer.uid) else {
            logger.warning("local submission refused: uid \(peer.uid) has no passwd entry", metadata: ["ipc.peer": "\(peer)"])
            throw IPCHandlerError(.permissionDenied, "who are you? (uid \(peer.uid) has no passwd entry)")
        }
        let trusted = isTrusted(peer.uid)
        let now = queue.clock.now()
        // Root and the queue's own user could write the spool anyway; others are counted.
        if peer.uid != 0 && peer.uid != getuid() && !limiter.admit(peer.uid, now: now) {
            logger.warning("local submission refused: \(user.name) (uid \(peer.uid)) reached submit.max_messages_per_minute (\(settings.maxPerMinute))")
            throw IPCHandlerError(.unavailable,
                                  "\(user.name) has sent \(settings.maxPerMinute) messages within a minute (submit.max_messages_per_minute); try again later")
        }
        try validate(request)
        let sender = LocalSender.decide(user: user, trusted: trusted, requested: request.hasSender ? request.sender : nil,
                                        smtpSession: request.smtpSession, fullName: request.fullName,
                                        ownDomain: settings.senderDomain, localNames: settings.localNames,
                                        authWarnings: settings.authWarnings)
        let recipients = request.recipients.map { recipient in
            var qualified = recipient
            qualified.address = LocalAddress.qualified(recipient.address, domain: settings.hostname)
            return qualified
        }
        let id = QueueID.make(now: now)
        var prefix = LocalHeader.received(user: user.name, helo: request.smtpSession ? request.helo : nil, hostname: settings.hostname,
                                          id: id, recipients: recipients.map(\.address), date: RFC5322Date.format(now))
        if let warning = sender.warning { prefix += LocalHeader.warning(hostname: settings.hostname, warning) }
        let normalizer = LocalMessageNormalizer(prefix: Array(prefix.utf8),
                                                from: Array(LocalHeader.from(address: sender.fromAddress, fullName: sender.fullName).utf8),
                                                limit: settings.maxMessageSize)
        let submit = Mailstack_Ipc_QueueSubmit.with {
            $0.queueID = id
            $0.sender = sender.envelope
            $0.recipients = recipients
            $0.envid = request.envid
            $0.ret = request.ret
            $0.body = request.body
            $0.helo = request.smtpSession ? request.helo : ""
        }
        let accepted = try await queue.accept(submit, body: LocalMessageStream(base: body, normalizer: normalizer))
        logger.info("\(accepted.id): local submission by \(user.name) (uid \(peer.uid)), sender=<\(sender.envelope)>\(sender.warning.map { ", X-Authentication-Warning: \($0)" } ?? "")")
        return accepted
    }

    /// What a local user may not put in an envelope or a header.
    func validate(_ request: Mailstack_Ipc_QueueSubmitLocal) throws {
        guard !request.recipients.isEmpty else { throw IPCHandlerError(.badRequest, "no recipients") }
        guard request.recipients.count <= settings.maxRecipients else {
            throw IPCHandlerError(.badRequest, "Too many recipients (\(settings.maxRecipients) max)")
        }
        for recipient in request.recipients {
            guard LocalAddress.isValid(recipient.address) else {
                throw IPCHandlerError(.badRequest, "\(Self.printable(recipient.address))... Invalid recipient address")
            }
            guard !recipient.orcpt.containsControlCharacter, recipient.orcpt.utf8.count <= RcptParameters.maxOrcpt + 20 else {
                throw IPCHandlerError(.badRequest, "Invalid ORCPT")
            }
        }
        if request.hasSender, !request.sender.isEmpty, !LocalAddress.isValid(request.sender) {
            throw IPCHandlerError(.badRequest, "\(Self.printable(request.sender))... Invalid sender address")
        }
        guard !request.fullName.containsControlCharacter, request.fullName.utf8.count <= 200 else {
            throw IPCHandlerError(.badRequest, "Invalid full name (control characters, or over 200 octets)")
        }
        guard request.envid.utf8.allSatisfy({ (0x20...0x7E).contains($0) }), request.envid.utf8.count <= MailParameters.maxEnvid else {
            throw IPCHandlerError(.badRequest, "Invalid ENVID (printable ASCII, at most \(MailParameters.maxEnvid) characters)")
        }
        guard request.helo.utf8.allSatisfy({ (0x21...0x7E).contains($0) }), request.helo.utf8.count <= 255 else {
            throw IPCHandlerError(.badRequest, "Invalid HELO name")
        }
    }

    /// A client's text for a reply or a log line: control characters escaped, at most 100 characters.
    static func printable(_ text: String) -> String {
        String(text.unicodeScalars.prefix(100).map { $0.value < 0x20 || $0.value == 0x7F ? "\\x\(String($0.value, radix: 16))" : String($0) }.joined())
    }
}

/// submit.max_messages_per_minute: each uid may start at most `limit` submissions within any 60
/// seconds of the queue's clock. A refused attempt is not counted.
final class SubmissionRateLimit: Sendable {
    let limit: Int
    static let window: Int64 = 60
    /// Recent submission times per uid (at most `limit` each).
    let recent = Mutex<[UInt32: [Int64]]>([:])

    init(limit: Int) { self.limit = limit }

    func admit(_ uid: UInt32, now: Int64) -> Bool {
        guard limit > 0 else { return true }
        return recent.withLock { all in
            // Users who have not sent for a minute are forgotten, so the table stays small.
            if all.count > 1024 { all = all.filter { $0.value.contains { $0 > now - Self.window } } }
            var times = (all[uid] ?? []).filter { $0 > now - Self.window }
            defer { all[uid] = times }
            guard times.count < limit else { return false }
            times.append(now)
            return true
        }
    }
}
