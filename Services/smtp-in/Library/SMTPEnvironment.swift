#if canImport(Glibc)
import Glibc
#endif
import IPC
import IPCTransport
import Listeners
import Logging
import NIOCore
import NIOSSL
import SMTP
import Synchronization
import SenderAuth
import Users

/// What every SMTP session shares: names and limits from the configuration, the peers
/// (relay-policy, queue), TLS, the users of the submission listener, connection counts.
public struct SMTPEnvironment: Sendable {
    /// $j: the greeting, HELO replies and Received: use it.
    public var hostname: String
    /// confSMTP_LOGIN_MSG with $j expanded; $b (the date) is expanded per connection.
    public var loginMessage: String
    public var maxMessageSize: Int
    public var maxRecipients: Int
    public var maxBadCommands: Int
    /// Trace header fields (Received:) a message may carry before it is refused as looping
    /// (sendmail's MaxHopCount).
    public var maxHopCount = 25
    /// Time to send one command line (a client trickling octets cannot stretch it).
    public var commandTimeout: Duration
    /// Time for the whole DATA transfer, from 354 to the final dot.
    public var dataTimeout: Duration
    public var maxConnections: Int
    public var maxConnectionsPerClient: Int
    /// STARTTLS is offered when set.
    public var tlsContext: NIOSSLContext?
    /// The policy and queue peers; see `SMTPPeers`.
    public var peers: SMTPPeers
    public var logger: Logger
    /// The connections open now (a session's slot is given back once its channel has closed).
    public let connections = ConnectionLimiter()
    /// Submission AUTH's throttles, failure delay and hashing pool (set from pop3.max_failures,
    /// pop3.max_user_failures, pop3.failure_window and pop3.failure_delay: one policy for every
    /// login on the host).
    public var logins = LoginGuard(limits: .init(maxFailures: 5, window: .seconds(900), failureDelay: .seconds(2)))
    /// SPF, DKIM and DMARC at the end of DATA; nil: not evaluated (forged Authentication-Results:
    /// with our host name are removed all the same).
    public var senderAuth: SenderAuthSettings?
    /// relay-policy's time, shared fairly between sessions.
    let policyShare = PolicyShare(maxInFlight: 64)
    /// relay-policy's verdicts held for reuse.
    let policyMemory = PolicyMemory()
    /// The greeting of the current second (`currentGreeting`).
    let lastGreeting = GreetingOfTheSecond()

    public init(hostname: String, loginMessage: String, maxMessageSize: Int, maxRecipients: Int, maxBadCommands: Int,
                commandTimeout: Duration, dataTimeout: Duration, maxConnections: Int, maxConnectionsPerClient: Int,
                tlsContext: NIOSSLContext?, peers: SMTPPeers, logger: Logger) {
        self.hostname = hostname
        self.loginMessage = loginMessage
        self.maxMessageSize = maxMessageSize
        self.maxRecipients = maxRecipients
        self.maxBadCommands = maxBadCommands
        self.commandTimeout = commandTimeout
        self.dataTimeout = dataTimeout
        self.maxConnections = maxConnections
        self.maxConnectionsPerClient = maxConnectionsPerClient
        self.tlsContext = tlsContext
        self.peers = peers
        self.logger = logger
    }

    /// The TLS context of a PEM certificate chain and key (smtp.tls_certificate, smtp.tls_key).
    public static func tlsContext(certificate: String, key: String) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        return try NIOSSLContext(configuration: configuration)
    }

    /// `greeting(now:)` for this second, made once a second (Foundation's string replacing was
    /// a fiftieth of smtp-in's time per connection).
    func currentGreeting() -> String {
        let now = Int64(time(nil))
        if let last = lastGreeting.value.withLock({ $0 }), last.second == now { return last.text }
        let text = greeting(now: now)
        lastGreeting.value.withLock { $0 = (now, text) }
        return text
    }

    /// The greeting text after "220 ": the login message with $b as now, and "ESMTP" after the
    /// host name as sendmail inserts it. Never the software's name or version.
    public func greeting(now: Int64) -> String {
        var text = loginMessage.replacingOccurrences(of: "$b", with: RFC5322Date.format(now))
        if !text.contains("ESMTP") {
            let first = text.prefix { $0 != " " }
            text = first + " ESMTP" + text.dropFirst(first.count)
        }
        return text
    }
}

final class GreetingOfTheSecond: Sendable {
    let value = Mutex<(second: Int64, text: String)?>(nil)
}

/// What smtp-in asks its peers: relay-policy at connect, MAIL and RCPT; the queue to take a
/// message. Closures, so the service wires IPC in and tests can put the real binaries or a
/// table behind them.
public struct SMTPPeers: Sendable {
    public var connect: @Sendable (String) async throws -> Mailstack_Ipc_PolicyVerdict
    public var mail: @Sendable (Mailstack_Ipc_PolicyMail) async throws -> Mailstack_Ipc_PolicyVerdict
    public var rcpt: @Sendable (Mailstack_Ipc_PolicyRcpt) async throws -> Mailstack_Ipc_PolicyVerdict
    /// Starts handing a message to the queue: the envelope now, the message as it arrives.
    public var submit: @Sendable (Mailstack_Ipc_QueueSubmit) async throws -> any SMTPMessageUpload
    /// Checks a user's password (the submission listener's AUTH); nil: AUTH is not offered.
    /// Submission AUTH: looks the user up (throws when the users cannot be read now) and
    /// gives the check to run on the login guard's pool.
    public var authenticate: (@Sendable (String, String) async throws -> LoginGuard.Proof)?
    /// relay-policy's SPF check and relay permission, and its TXT lookups (sender authentication).
    public var auth: (@Sendable (Mailstack_Ipc_PolicyAuth) async throws -> Mailstack_Ipc_PolicyAuthReply)?
    public var txt: (@Sendable (String) async throws -> Mailstack_Ipc_PolicyTxtReply)?

    public init(connect: @escaping @Sendable (String) async throws -> Mailstack_Ipc_PolicyVerdict,
                mail: @escaping @Sendable (Mailstack_Ipc_PolicyMail) async throws -> Mailstack_Ipc_PolicyVerdict,
                rcpt: @escaping @Sendable (Mailstack_Ipc_PolicyRcpt) async throws -> Mailstack_Ipc_PolicyVerdict,
                submit: @escaping @Sendable (Mailstack_Ipc_QueueSubmit) async throws -> any SMTPMessageUpload,
                authenticate: (@Sendable (String, String) async throws -> LoginGuard.Proof)? = nil) {
        self.connect = connect
        self.mail = mail
        self.rcpt = rcpt
        self.submit = submit
        self.authenticate = authenticate
    }

    /// The peers over IPC: relay-policy and queue clients; `passwd` for AUTH when given.
    public static func ipc(policy: PolicyClient, queue: QueueClient, users: (any UserDirectory)? = nil) -> SMTPPeers {
        var authenticate: (@Sendable (String, String) async throws -> LoginGuard.Proof)?
        if let users {
            authenticate = { user, password in
                .password(try await users.user(user), password)
            }
        }
        var peers = SMTPPeers(
            connect: { address in try await policy.connect(address) },
            mail: { mail in try await policy.mail(mail) },
            rcpt: { rcpt in try await policy.rcpt(rcpt) },
            submit: { submit in try await queue.submit(submit) },
            authenticate: authenticate)
        peers.auth = { question in try await policy.auth(question) }
        peers.txt = { name in try await policy.txt(name) }
        return peers
    }
}

/// A message on its way to the queue, fed by its session as the client sends it (`send` waits
/// while the queue is behind). Over IPC a `QueueSubmission`.
public protocol SMTPMessageUpload: Sendable {
    func send(_ buffer: ByteBuffer) async throws
    /// Ends the message; the queue id once the queue has it on disk.
    func finish() async throws -> String
    /// Gives the message up (refused at the final dot): the queue discards it.
    func abort(_ error: Error) async
}

extension QueueSubmission: SMTPMessageUpload {}
