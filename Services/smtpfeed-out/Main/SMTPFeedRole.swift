// smtpfeed-out: parallel outbound SMTP delivery (what smtpfeed was).
//
// Serves:     <ipc.directory>/smtpfeed-out.sock (or the socket systemd passes): feed.deliver
//             from the queue, a result per recipient.
// Talks to:   DNS (dns.servers: MX, A, AAAA; the queue brings each recipient's mailertable
//             route from relay-policy with the message), the mail
//             exchangers over SMTP (outbound.port, STARTTLS when offered; verified for
//             outbound.require_tls, pinned for outbound.tls_fingerprints domains; the system
//             trust store in /etc/ssl/certs).
// Privileges: its own user; reads the DKIM keys of dkim.keys at start (files only its user
//             may read: a key others can read is refused) and writes no files.
// Limits:     outbound.max_connections, outbound.max_connections_per_host,
//             outbound.max_recipients per transaction, RFC 5321 timeouts
//             (outbound.connect_timeout, command_timeout, data_timeout), outbound.host_backoff.
//             Never delivers to itself: an MX that is one of host.fqdn/host.local_names, or a
//             server greeting as host.fqdn, fails the mail with 553 5.3.5 (a loop).

import DNS
import Daemon
import Glibc
import SMTPFeedService

/// smtpfeed-out as a role of the mailstack executable (started as `smtpfeed-out`).
public let role = Daemon.Role(name: "smtpfeed-out", tasksOnEventLoops: true) { try await runSMTPFeed() }

func runSMTPFeed() async throws {
    let (file, overrides) = Daemon.arguments()
    let configuration = Daemon.loadConfiguration(file: file, overrides: overrides)
    let logger = Daemon.logger(service: "smtpfeed-out", configuration: configuration)

    var settings = Feed.Settings()
    settings.hostname = configuration.fqdn
    settings.localNames = Set(configuration.localNames.map { $0.lowercased() })
    settings.defaultPort = configuration.outboundPort
    settings.smartHost = configuration.smartHost.isEmpty ? nil : configuration.smartHost
    settings.maxMessageSize = configuration.outboundMaxMessageSize
    settings.maxLine = configuration.outboundMaxLine
    settings.maxRecipients = configuration.outboundMaxRecipients
    settings.maxConnections = configuration.outboundMaxConnections
    settings.maxConnectionsPerHost = configuration.outboundMaxConnectionsPerHost
    settings.connectTimeout = configuration.outboundConnectTimeout
    settings.commandTimeout = configuration.outboundCommandTimeout
    settings.dataTimeout = configuration.outboundDataTimeout
    settings.hostBackoff = configuration.outboundHostBackoff
    settings.requireTLS = Set(configuration.outboundRequireTLS)
    settings.tlsFingerprints = configuration.outboundTLSFingerprints.mapValues(CertificatePins.init)
    if !configuration.dkimKeys.isEmpty {
        let keys = configuration.dkimKeys.map { FeedSigner.KeySpec(domain: $0.domain, selector: $0.selector, file: $0.file) }
        do {
            settings.signer = try FeedSigner(keys: keys, headers: configuration.dkimHeaders.isEmpty ? nil : configuration.dkimHeaders)
        } catch {
            let refusal = configuration.error(at: "dkim.keys", "key \(error)", file: file ?? "mailstack.yaml")
            let line = "mailstack: configuration refused: \(refusal)\n"
            _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
            exit(78)
        }
        logger.info("dkim: signing mail from \(settings.signer!.domains.joined(separator: ", "))")
    }

    let resolver = DNSResolver(servers: configuration.dnsServers.compactMap(DNSResolver.Server.init), timeout: configuration.dnsTimeout)
    let server = try await Daemon.ipcListener(service: IPCServiceName.smtpfeedOut, configuration: configuration,
                                              activated: SocketActivation.take(), logger: logger)
    try await Daemon.run(
        service: "smtpfeed-out",
        services: [IPCServerService(server: server, handler: FeedRequestHandler(settings: settings, resolver: resolver, logger: logger))],
        status: settings.smartHost.map { "smart host \($0)" } ?? "MX routing, port \(settings.defaultPort)",
        logger: logger, stopWhenIdle: server.idle)
}
