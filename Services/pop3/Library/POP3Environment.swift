import Listeners
import Users
import IPC
import IPCTransport
import Logging
import Maildir
import NIOSSL
import Synchronization

/// What every POP3 session shares: users, mailboxes, locks, limits, the drac registration.
public struct POP3Environment: Sendable {
    public var passwd: PasswdFile
    /// Where logins find users: the passwd-file, or the shared table (pop3.users: pgsql).
    public var users: any UserDirectory
    /// Mailboxes are <maildirRoot>/<user>/ (the queue's local delivery writes there).
    public var maildirRoot: String
    public var hostname: String
    public var locks = POP3MailboxLocks()
    /// Failed-login throttles, delays and the password hashing pool.
    public var logins: LoginGuard
    public var idleTimeout: Duration
    /// Time from connect to a successful login; an unauthenticated session is closed after it.
    public var loginTimeout: Duration
    public var maxSessions: Int
    public var maxSessionsPerAddress: Int
    /// Registers a client address with drac-registry after a successful login.
    public var registerClient: @Sendable (String) async throws -> Void
    public var logger: Logger
    /// STLS is offered when a certificate is configured.
    public var tlsContext: NIOSSLContext?
    public let sessions = ConnectionLimiter()

    public init(passwd: PasswdFile, maildirRoot: String, hostname: String, logins: LoginGuard,
                idleTimeout: Duration, loginTimeout: Duration, maxSessions: Int, maxSessionsPerAddress: Int,
                registerClient: @escaping @Sendable (String) async throws -> Void, logger: Logger,
                tlsContext: NIOSSLContext? = nil) {
        self.passwd = passwd
        self.users = passwd
        self.maildirRoot = maildirRoot
        self.hostname = hostname
        self.logins = logins
        self.idleTimeout = idleTimeout
        self.loginTimeout = loginTimeout
        self.maxSessions = maxSessions
        self.maxSessionsPerAddress = maxSessionsPerAddress
        self.registerClient = registerClient
        self.logger = logger
        self.tlsContext = tlsContext
    }

    /// The TLS context of a PEM certificate chain and key (pop3.tls_certificate, pop3.tls_key).
    public static func tlsContext(certificate: String, key: String) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        return try NIOSSLContext(configuration: configuration)
    }

    public func maildir(for user: String) -> Maildir { Maildir(path: maildirRoot + "/" + user) }

    /// drac registration through an IPC client of drac-registry: a failure is the caller's to
    /// log; the login stands (as qpopper's drac support did).
    public static func dracRegistration(_ client: DracClient) -> @Sendable (String) async throws -> Void {
        { address in try await client.add(address) }
    }
}
