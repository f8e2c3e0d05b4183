// queue: the durable spool (what sendmail's mqueue was), local delivery and retries.
//
// Serves:     <ipc.directory>/queue.sock (or the socket systemd passes): submissions from
//             smtp-in (answered once durable); mailq and flush for administrators.
//             <ipc.directory>/submit.sock (FileDescriptorName=submit), mode 0666: local
//             submission (the sendmail command) from any user, known by SO_PEERCRED; nothing else.
// Talks to:   relay-policy (where does a recipient go: every target with its route),
//             smtpfeed-out (remote delivery), local-delivery (an alias's programs and files).
// Privileges: its own user; writes queue.directory and the Maildirs under queue.maildir_root
//             (which pop3 reads). Administrators are root, this user and ipc.admin_group.
// Limits:     queue.deliveries messages in flight; retries every queue.min_age; warning after
//             queue.warn_after; return after queue.return_after; submissions refused (452 4.3.1
//             at smtp-in) while the spool's file system has less than queue.min_free free;
//             local users: submit.max_messages_per_minute each, smtp.max_message_size.

import Daemon
import NIOPosix
import QueueService

/// queue as a role of the mailstack executable (started as `queue`).
public let role = Daemon.Role(name: "queue", tasksOnEventLoops: true) { try await runQueue() }

func runQueue() async throws {
    let (file, overrides) = Daemon.arguments()
    let configuration = Daemon.loadConfiguration(file: file, overrides: overrides)
    let logger = Daemon.logger(service: "queue", configuration: configuration)

    // Blocking file work (writes, fsyncs, Maildir deliveries) runs here, never on the event loops;
    // enough threads that concurrent fsyncs share journal commits.
    let pool = NIOThreadPool(numberOfThreads: 16)
    pool.start()
    let spool: Spool
    do {
        spool = try Spool(directory: configuration.queueDirectory, pool: pool)
    } catch {
        Daemon.fail("cannot use the spool: \(error)", logger: logger)
    }

    var settings = MailQueue.Settings()
    settings.minAge = configuration.minQueueAge
    settings.warnAfter = configuration.queueWarnAfter
    settings.returnAfter = configuration.queueReturnAfter
    settings.hostname = configuration.fqdn
    settings.postmaster = configuration.postmaster
    settings.maildirRoot = configuration.maildirRoot
    settings.maxMessageSize = configuration.maxMessageSize + 64 * 1024
    settings.deliveries = configuration.queueDeliveries
    settings.minFree = configuration.queueMinFree
    settings.queueOnly = configuration.queueOnly
    settings.rewriter = HeaderRewriter(
        masqueradeAs: configuration.masqueradeAs,
        masqueradeDomains: Set(configuration.localNames + [configuration.hostName, "localhost"]),
        masqueradeEnvelope: configuration.masqueradeEnvelope,
        hostname: configuration.fqdn)

    let policy = PolicyClient(Daemon.client(of: IPCServiceName.relayPolicy, from: IPCServiceName.queue, configuration: configuration, logger: logger))
    let feed = FeedClient(Daemon.client(of: IPCServiceName.smtpfeedOut, from: IPCServiceName.queue, configuration: configuration, logger: logger,
                                        timeout: FeedClient.deliveryTimeout))
    let local = LocalDeliveryClient(Daemon.client(of: IPCServiceName.localDelivery, from: IPCServiceName.queue, configuration: configuration,
                                                   logger: logger),
                                    timeout: LocalDeliveryClient.deliveryTimeout(programTimeout: configuration.localProgramTimeout))
    let queue = MailQueue(spool: spool, settings: settings, routing: .ipc(policy: policy, feed: feed, local: local), pool: pool, logger: logger)
    let recovered: Int
    do {
        recovered = try await queue.recover()
    } catch {
        Daemon.fail("cannot read the spool: \(error)", logger: logger)
    }
    if recovered > 0 { logger.notice("recovered \(recovered) message(s) from the spool") }
    let administrators = Daemon.peerPolicy(users: [], groups: [], configuration: configuration, logger: logger)
    let activated = SocketActivation.take()
    let server = try await Daemon.ipcListener(service: IPCServiceName.queue, configuration: configuration,
                                              activated: activated, logger: logger, onDemand: false)

    var submitSettings = LocalSubmission.Settings()
    submitSettings.hostname = configuration.fqdn
    submitSettings.senderDomain = configuration.masqueradeAs ?? configuration.fqdn
    submitSettings.localNames = Set((configuration.localNames + [configuration.hostName, "localhost"]).map { $0.lowercased() })
    submitSettings.trustedUIDs = Daemon.peerPolicy(users: configuration.submitTrustedUsers, groups: [], configuration: configuration, logger: logger).uids
    submitSettings.authWarnings = configuration.authWarnings
    submitSettings.maxMessageSize = configuration.maxMessageSize
    submitSettings.maxRecipients = configuration.maxRecipients
    submitSettings.maxPerMinute = configuration.submitMaxPerMinute
    let submission = LocalSubmission(queue: queue, settings: submitSettings, logger: logger)
    // Mail from SMTP does not depend on it: without the socket the queue runs, and says so.
    var submitServer: IPCServer?
    do {
        submitServer = try await Daemon.submissionListener(configuration: configuration, activated: activated, logger: logger)
    } catch {
        logger.error("local submission unavailable (the sendmail command will exit 75): \(error)")
    }
    try await Daemon.run(
        service: "queue",
        services: [
            IPCServerService(server: server, handler: QueueRequestHandler(queue: queue, administrators: administrators, logger: logger)),
            IPCClientService(client: policy.ipc), IPCClientService(client: feed.ipc), IPCClientService(client: local.ipc),
            QueueRunner(queue: queue),
        ] + (submitServer.map { [IPCServerService(server: $0, handler: LocalSubmissionRequestHandler(submission: submission))] } ?? []),
        status: "\(recovered) message(s) in the queue",
        logger: logger)
}
