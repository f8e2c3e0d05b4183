import IPC
import NIOCore

/// Each service as its clients see it: one typed client per service, next to the schema, so a
/// caller asks `policy.rcpt(...)` and gets a verdict, never an `IPCBody` to pick apart. A reply
/// of the wrong type is a protocol violation, said once here. Timeouts that differ from the
/// connection's default are named here too.
extension IPCClient {
    /// `request` with the reply's expected type.
    func expect<Reply>(_ body: IPCBody, timeout: Duration? = nil, _ what: String,
                       _ reply: (IPCBody) -> Reply?) async throws -> Reply {
        try Self.typed(try await request(body, timeout: timeout), from: configuration.service, what, reply)
    }

    func expect<Reply, Body: AsyncSequence>(_ body: IPCBody, streaming stream: Body, timeout: Duration? = nil, _ what: String,
                                            _ reply: (IPCBody) -> Reply?) async throws -> Reply where Body.Element == ByteBuffer {
        try Self.typed(try await request(body, streaming: stream, timeout: timeout), from: configuration.service, what, reply)
    }

    /// `answer` as the type `what` is answered with; any other is a protocol violation.
    static func typed<Reply>(_ answer: IPCBody, from service: String, _ what: String, _ reply: (IPCBody) -> Reply?) throws -> Reply {
        guard let typed = reply(answer) else { throw IPCError.protocolViolation("\(service) answered \(what) with \(answer)") }
        return typed
    }
}

/// relay-policy: smtp-in's connect/MAIL/RCPT questions, smtpfeed-out's routes, the queue's
/// resolutions.
public struct PolicyClient: Sendable {
    public let ipc: IPCClient
    public init(_ ipc: IPCClient) { self.ipc = ipc }

    public func connect(_ address: String) async throws -> Mailstack_Ipc_PolicyVerdict {
        try await ipc.expect(.policyConnect(.with { $0.address = address }), "policy.connect") { if case let .policyVerdict(v) = $0 { v } else { nil } }
    }

    public func mail(_ question: Mailstack_Ipc_PolicyMail) async throws -> Mailstack_Ipc_PolicyVerdict {
        try await ipc.expect(.policyMail(question), "policy.mail") { if case let .policyVerdict(v) = $0 { v } else { nil } }
    }

    public func rcpt(_ question: Mailstack_Ipc_PolicyRcpt) async throws -> Mailstack_Ipc_PolicyVerdict {
        try await ipc.expect(.policyRcpt(question), "policy.rcpt") { if case let .policyVerdict(v) = $0 { v } else { nil } }
    }

    /// SPF for a transaction and the client's relay permission (at DATA; DNS may take seconds).
    public func auth(_ question: Mailstack_Ipc_PolicyAuth) async throws -> Mailstack_Ipc_PolicyAuthReply {
        try await ipc.expect(.policyAuth(question), timeout: Self.authTimeout, "policy.auth") { if case let .policyAuthReply(r) = $0 { r } else { nil } }
    }

    /// One TXT lookup through relay-policy's resolver (DMARC records, DKIM keys).
    public func txt(_ name: String) async throws -> Mailstack_Ipc_PolicyTxtReply {
        try await ipc.expect(.policyTxt(.with { $0.name = name }), timeout: Self.authTimeout, "policy.txt") { if case let .policyTxtReply(r) = $0 { r } else { nil } }
    }

    /// SPF's DNS lookups (up to 10 terms, each up to dns.timeout x attempts) run behind policy.auth:
    /// RFC 7208 4.6.4 asks for at least 20 seconds in all.
    public static let authTimeout: Duration = .seconds(30)

    public func resolve(_ recipient: String) async throws -> Mailstack_Ipc_PolicyResolution {
        try await ipc.expect(.policyResolve(.with { $0.recipient = recipient }), "policy.resolve") {
            if case let .policyResolution(r) = $0 { r } else { nil }
        }
    }
}

/// drac-registry: relay-policy's lookups, pop3's additions.
public struct DracClient: Sendable {
    public let ipc: IPCClient
    public init(_ ipc: IPCClient) { self.ipc = ipc }

    /// A lookup is on the path of an RCPT: a registry that does not answer quickly is treated as
    /// "not authorized" by the caller rather than holding the client.
    public static let lookupTimeout: Duration = .seconds(2)
    /// An addition is on the path of a POP3 login, which goes on without it.
    public static let addTimeout: Duration = .seconds(2)

    public func isAuthorized(_ address: String) async throws -> Bool {
        try await ipc.expect(.dracLookup(.with { $0.address = address }), timeout: Self.lookupTimeout, "drac.lookup") {
            if case let .dracLookupReply(r) = $0 { r.authorized } else { nil }
        }
    }

    @discardableResult
    public func add(_ address: String) async throws -> Mailstack_Ipc_DracEntry {
        try await ipc.expect(.dracAdd(.with { $0.address = address }), timeout: Self.addTimeout, "drac.add") {
            if case let .dracEntry(e) = $0 { e } else { nil }
        }
    }
}

/// The queue: smtp-in's submissions, the message streamed as it arrives.
public struct QueueClient: Sendable {
    public let ipc: IPCClient
    public init(_ ipc: IPCClient) { self.ipc = ipc }

    /// Starts a submission: the envelope goes out now, the message follows as it arrives.
    public func submit(_ submit: Mailstack_Ipc_QueueSubmit) async throws -> QueueSubmission {
        QueueSubmission(upload: try await ipc.upload(.queueSubmit(submit)))
    }
}

/// A message on its way to the queue (`QueueClient.submit`), sent by the one task that reads it.
public struct QueueSubmission: Sendable {
    let upload: IPCUpload

    /// More of the message; throws once the submission has failed.
    public func send(_ buffer: ByteBuffer) async throws {
        try await upload.send(buffer)
    }

    /// Ends the message; returns its queue id once the queue has it on disk.
    public func finish() async throws -> String {
        try IPCClient.typed(try await upload.finish(), from: upload.service, "queue.submit") {
            if case let .queueAccepted(a) = $0 { a.queueID } else { nil }
        }
    }

    /// Gives the message up (refused): the queue discards what it received.
    public func abort(_ error: Error) async {
        await upload.abort(error)
    }
}

/// smtpfeed-out: the queue's remote deliveries, the message streamed after the request.
public struct FeedClient: Sendable {
    public let ipc: IPCClient
    public init(_ ipc: IPCClient) { self.ipc = ipc }

    /// A remote delivery may take as long as the SMTP timeouts of RFC 5321 allow (several MX
    /// hosts, each with its connect, command and data timeouts).
    public static let deliveryTimeout: Duration = .seconds(3600)

    public func deliver<Body: AsyncSequence>(_ job: Mailstack_Ipc_FeedDeliver, body: Body) async throws -> Mailstack_Ipc_FeedResult
        where Body.Element == ByteBuffer {
        try await ipc.expect(.feedDeliver(job), streaming: body, "feed.deliver") { if case let .feedResult(r) = $0 { r } else { nil } }
    }
}

/// local-delivery: the queue's deliveries to programs and files (an alias's `"|command"` or
/// `/path`), one target per request, the message streamed after it. The answer comes once the
/// program has exited (or was stopped at local.program_timeout) or the file is fsynced.
public struct LocalDeliveryClient: Sendable {
    public let ipc: IPCClient
    /// How long an answer may take: a program may run for local.program_timeout, then gets a
    /// grace between SIGTERM and SIGKILL; `deliveryTimeout(programTimeout:)` adds a margin.
    public let timeout: Duration

    /// local.program_timeout's default (10m) with its margin.
    public static let deliveryTimeout: Duration = deliveryTimeout(programTimeout: .seconds(600))
    /// What local-delivery's answer may take beyond the program's own time: the kill grace, a
    /// file lock's wait (local.file_lock_timeout, 1m by default) and the fsync.
    public static let answerMargin: Duration = .seconds(120)

    /// The time to wait for an answer from a local-delivery configured with `programTimeout`.
    public static func deliveryTimeout(programTimeout: Duration) -> Duration { programTimeout + answerMargin }

    public init(_ ipc: IPCClient, timeout: Duration = LocalDeliveryClient.deliveryTimeout) {
        self.ipc = ipc
        self.timeout = timeout
    }

    public func deliver<Body: AsyncSequence>(_ job: Mailstack_Ipc_LocalDeliver, body: Body) async throws -> Mailstack_Ipc_LocalResult
        where Body.Element == ByteBuffer {
        try await ipc.expect(.localDeliver(job), streaming: body, timeout: timeout, "local.deliver") {
            if case let .localResult(r) = $0 { r } else { nil }
        }
    }
}
