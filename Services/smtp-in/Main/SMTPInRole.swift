// smtp-in: the inbound ESMTP server (sendmail's SMTP side).
//
// Serves:     TCP smtp.listen (port 25) or the sockets systemd passes (FileDescriptorName=smtp);
//             with smtp.submission, also smtp.submission_listen (587, name "submission").
// Talks to:   relay-policy (connect, MAIL, RCPT decisions; with policy.spf/policy.dmarc, SPF,
//             relay permission and TXT lookups for DMARC and DKIM keys: smtp-in opens no
//             network socket of its own), queue (each message, streamed; 250 only once the
//             queue has it on disk; held to the final dot when sender authentication is on).
// Privileges: its own user; needs no files except the TLS key, for submission the
//             passwd-file, and for DMARC the Public Suffix List (policy.public_suffix_list). Port 25 comes from systemd's socket unit (or CAP_NET_BIND_SERVICE).
// Limits:     smtp.max_message_size, smtp.max_recipients, smtp.max_bad_commands,
//             smtp.command_timeout (reads of a whole line and blocked writes alike),
//             smtp.data_timeout, smtp.max_connections(_per_client), smtp.max_hop_count;
//             command lines 512 octets, text lines 1000 (RFC 5321); input pipelined past DATA
//             1 MiB (reading stops while the session answers); relay-policy questions shared
//             fairly between sessions.

import Daemon
import Foundation
import MailstackPostgres
import NIOSSL
import SenderAuth
import SMTPInService
import Users

/// smtp-in as a role of the mailstack executable (started as `smtp-in`).
public let role = Daemon.Role(name: "smtp-in", tasksOnEventLoops: true) { try await runSMTPIn() }

func runSMTPIn() async throws {
    let (file, overrides) = Daemon.arguments()
    let configuration = Daemon.loadConfiguration(file: file, overrides: overrides)
    let logger = Daemon.logger(service: "smtp-in", configuration: configuration)

    let policy = PolicyClient(Daemon.client(of: IPCServiceName.relayPolicy, from: IPCServiceName.smtpIn, configuration: configuration, logger: logger))
    // The queue request lasts as long as the client's DATA (and the commit after it).
    let queue = QueueClient(Daemon.client(of: IPCServiceName.queue, from: IPCServiceName.smtpIn, configuration: configuration, logger: logger,
                                          timeout: configuration.smtpDataTimeout + .seconds(60)))

    var tlsContext: NIOSSLContext?
    if !configuration.tlsCertificate.isEmpty {
        do {
            tlsContext = try SMTPEnvironment.tlsContext(certificate: configuration.tlsCertificate, key: configuration.tlsKey)
        } catch {
            Daemon.fail("cannot load \(configuration.tlsCertificate) / \(configuration.tlsKey): \(error)", logger: logger)
        }
    }
    var users: (any UserDirectory)? = configuration.submissionEnabled ? PasswdFile(path: configuration.pop3PasswdFile) : nil
    var databaseServices: [any Service] = []
    if configuration.submissionEnabled && configuration.pop3Users == "pgsql" {
        do {
            let database = SharedDatabase(settings: try DatabaseSettings(configuration, environment: ProcessInfo.processInfo.environment),
                                          logger: logger)
            databaseServices.append(database)
            users = PostgresUsers(database: database, logger: logger)
        } catch {
            Daemon.fail("\(error)", logger: logger)
        }
    }
    var environment = SMTPEnvironment(
        hostname: configuration.fqdn,
        loginMessage: configuration.loginMessage,
        maxMessageSize: configuration.maxMessageSize,
        maxRecipients: configuration.maxRecipients,
        maxBadCommands: configuration.maxBadCommands,
        commandTimeout: configuration.smtpCommandTimeout,
        dataTimeout: configuration.smtpDataTimeout,
        maxConnections: configuration.smtpMaxConnections,
        maxConnectionsPerClient: configuration.smtpMaxConnectionsPerClient,
        tlsContext: tlsContext,
        peers: .ipc(policy: policy, queue: queue, users: users),
        logger: logger)
    environment.maxHopCount = configuration.maxHopCount
    if configuration.spfCheck || configuration.dmarcMode != "off" {
        do {
            var settings = SenderAuthSettings(spf: configuration.spfCheck, dmarc: DMARCDisposition.Mode(rawValue: configuration.dmarcMode) ?? .off,
                                              authservID: configuration.authservID,
                                              suffixes: try PublicSuffixList.load(path: configuration.publicSuffixList))
            // DKIM is verified for DMARC (a DKIM pass for an aligned d= passes DMARC).
            if settings.dmarc != .off { settings.verifyDKIM = SenderAuthSettings.dkimVerifier }
            environment.senderAuth = settings
        } catch {
            Daemon.fail("policy.public_suffix_list: \(error)", logger: logger)
        }
    }
    environment.logins = LoginGuard(limits: .init(maxFailures: configuration.pop3MaxFailures, maxUserFailures: configuration.pop3MaxUserFailures,
                                                  window: configuration.pop3FailureWindow, failureDelay: configuration.pop3FailureDelay,
                                                  authCacheTTL: configuration.pop3AuthCacheTTL))

    func listeners(_ name: String, _ configured: [String], activated: [SocketActivation.Socket]) -> [SMTPServer.Listen] {
        let mine = activated.filter { $0.name == name || (name == "smtp" && ($0.name == "unknown" || $0.name == "smtp-in")) }
        if !mine.isEmpty { return mine.map { .inherited(fd: $0.fd) } }
        return configured.compactMap { ListenAddress($0).map { .address(host: $0.host, port: $0.port) } }
    }
    let activated = SocketActivation.take()
    var services: [any Service] = databaseServices + [IPCClientService(client: policy.ipc), IPCClientService(client: queue.ipc)]
    var ports: [Int] = []
    // Started by systemd's sockets (all it listens on): it stops after ipc.max_idle without a
    // connection.
    let onDemand = !activated.isEmpty && (!configuration.submissionEnabled || activated.contains { $0.name == "submission" })
    let idle = Daemon.idleTracker(configuration: configuration, activated: onDemand)
    do {
        let smtp = try await SMTPServer.bind(listeners("smtp", configuration.smtpListen, activated: activated), environment: environment,
                                             stopWhenIdle: idle)
        services.append(SMTPService(server: smtp))
        ports += smtp.localPorts
        if configuration.submissionEnabled {
            let msa = try await SMTPServer.bind(listeners("submission", configuration.submissionListen, activated: activated),
                                                environment: environment, submission: true, stopWhenIdle: idle)
            services.append(SMTPService(server: msa))
            ports += msa.localPorts
        }
    } catch {
        Daemon.fail("cannot listen on \(configuration.smtpListen.joined(separator: ", ")): \(error)", logger: logger)
    }
    try await Daemon.run(
        service: "smtp-in",
        services: services,
        status: "listening on port \(Set(ports).sorted().map(String.init).joined(separator: ", "))",
        logger: logger, stopWhenIdle: idle)
}
