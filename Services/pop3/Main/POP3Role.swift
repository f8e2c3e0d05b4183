// pop3: the POP3 server (what qpopper was).
//
// Serves:     POP3 (RFC 1939, 2449, 5034) on pop3.listen (port 110) or the sockets systemd
//             passes (FileDescriptorName=pop3).
// Talks to:   drac-registry (adds the address of every client that logs in; if the registry is
//             down the login still succeeds and the failure is logged).
// Mailboxes: one session each, on this host or (pop3.mailbox_lock: pgsql) on every host, by a
//             PostgreSQL advisory lock on a connection of the session's own.
// Privileges: its own user; reads pop3.passwd_file; reads and deletes in the Maildirs under
//             queue.maildir_root (the queue's local delivery writes them).
// TLS:        STLS (RFC 2595) when pop3.tls_certificate and pop3.tls_key are set.
// Limits:     command lines of 255 octets; pop3.idle_timeout for each whole line and for
//             blocked writes; pop3.login_timeout from connect to login; pop3.max_sessions (and
//             per client, an IPv6 /64 counted as one); failed logins delayed by
//             pop3.failure_delay and throttled after pop3.max_failures per client or
//             pop3.max_user_failures per user name within pop3.failure_window; password
//             hashes on a bounded thread pool, never on the event loops.

import Daemon
import Foundation
import MailstackPostgres
import NIOSSL
import POP3Service
import ServiceLifecycle
import Users

/// pop3 as a role of the mailstack executable (started as `pop3`). Its tasks stay on Swift's own
/// pool: with 20 clients retrieving at once, RETR ran 15-20% slower on the event loops
/// (bench/run.sh, 2026-11-29).
public let role = Daemon.Role(name: "pop3", tasksOnEventLoops: false) { try await runPOP3() }

func runPOP3() async throws {
    let (file, overrides) = Daemon.arguments()
    let configuration = Daemon.loadConfiguration(file: file, overrides: overrides)
    let logger = Daemon.logger(service: "pop3", configuration: configuration)
    let drac = DracClient(Daemon.client(of: IPCServiceName.dracRegistry, from: IPCServiceName.pop3, configuration: configuration, logger: logger))
    let passwd = PasswdFile(path: configuration.pop3PasswdFile)
    for error in passwd.errors { logger.error("passwd-file: \(error)") }
    var tlsContext: NIOSSLContext?
    if !configuration.pop3TLSCertificate.isEmpty {
        do {
            tlsContext = try POP3Environment.tlsContext(certificate: configuration.pop3TLSCertificate, key: configuration.pop3TLSKey)
        } catch {
            Daemon.fail("cannot load \(configuration.pop3TLSCertificate) / \(configuration.pop3TLSKey): \(error)", logger: logger)
        }
    }
    var environment = POP3Environment(
        passwd: passwd,
        maildirRoot: configuration.maildirRoot,
        hostname: configuration.fqdn,
        logins: LoginGuard(limits: .init(maxFailures: configuration.pop3MaxFailures, maxUserFailures: configuration.pop3MaxUserFailures,
                                         window: configuration.pop3FailureWindow, failureDelay: configuration.pop3FailureDelay,
                                         authCacheTTL: configuration.pop3AuthCacheTTL)),
        idleTimeout: configuration.pop3IdleTimeout,
        loginTimeout: configuration.pop3LoginTimeout,
        maxSessions: configuration.pop3MaxSessions,
        maxSessionsPerAddress: configuration.pop3MaxSessionsPerAddress,
        registerClient: POP3Environment.dracRegistration(drac),
        logger: logger,
        tlsContext: tlsContext
    )
    var databaseServices: [any Service] = []
    if configuration.pop3MailboxLock == "pgsql" || configuration.pop3Users == "pgsql" {
        do {
            let settings = try DatabaseSettings(configuration, environment: ProcessInfo.processInfo.environment)
            if configuration.pop3MailboxLock == "pgsql" {
                environment.locks = POP3MailboxLocks(shared: try SharedMailboxLocks(settings: settings, logger: logger))
            }
            if configuration.pop3Users == "pgsql" {
                let database = SharedDatabase(settings: settings, logger: logger)
                databaseServices.append(database)
                environment.users = PostgresUsers(database: database, logger: logger)
            }
        } catch {
            Daemon.fail("\(error)", logger: logger)
        }
    }
    let activated = SocketActivation.take().filter { $0.name == "pop3" || $0.name == "unknown" }
    let listen: [POP3Server.Listen] = activated.isEmpty
        ? configuration.pop3Listen.compactMap { ListenAddress($0).map { .address(host: $0.host, port: $0.port) } }
        : activated.map { .inherited(fd: $0.fd) }
    let server: POP3Server
    // Started by systemd's socket: it stops after ipc.max_idle without a connection.
    let idle = Daemon.idleTracker(configuration: configuration, activated: !activated.isEmpty)
    do {
        server = try await POP3Server.bind(listen, environment: environment, stopWhenIdle: idle)
    } catch {
        Daemon.fail("cannot listen on \(configuration.pop3Listen.joined(separator: ", ")): \(error)", logger: logger)
    }
    try await Daemon.run(
        service: "pop3",
        services: databaseServices + [POP3Service(server: server), IPCClientService(client: drac.ipc)],
        status: "listening on port \(server.localPorts.map(String.init).joined(separator: ", "))",
        logger: logger,
        stopWhenIdle: idle
    )
}
