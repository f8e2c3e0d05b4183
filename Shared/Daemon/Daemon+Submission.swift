#if canImport(Glibc)
import Glibc
#endif
import IPC
import IPCTransport
import Logging
import MailstackConfig
import MailstackSystemd

extension Daemon {
    /// The queue's second listener, for local submission (the sendmail command): the socket
    /// systemd passes as FileDescriptorName=submit, else <ipc.directory>/submit.sock bound here.
    /// Every local user may connect (mode 0666), so it answers one request type only,
    /// queue.submitLocal, whose sender the queue learns from SO_PEERCRED; anything else closes
    /// the connection. A uid holds at most `maxConnectionsPerUser` connections, each with one
    /// submission at a time.
    public static func submissionListener(
        configuration: MailstackConfiguration,
        activated: [SocketActivation.Socket],
        logger: Logger
    ) async throws -> IPCServer {
        var serverConfiguration = IPCServerConfiguration(service: IPCServiceName.queue, maxFrame: configuration.ipcMaxFrame,
                                                         maxInFlightPerConnection: 1, maxStreamsPerConnection: 1,
                                                         socketMode: submissionSocketMode)
        serverConfiguration.allowedRequests = [submitLocalRequest]
        serverConfiguration.maxConnectionsPerPeer = maxConnectionsPerUser
        if let inherited = activated.first(where: { $0.name == "submit" }) {
            logger.info("local submission on the socket passed by systemd (submit)")
            return try await IPCServer.bind(.inherited(fd: inherited.fd, name: inherited.name),
                                            configuration: serverConfiguration, logger: logger)
        }
        let path = configuration.submitSocketPath
        try makeDirectory(configuration.ipcDirectory)
        logger.info("local submission on \(path)")
        return try await IPCServer.bind(.path(path), configuration: serverConfiguration, logger: logger)
    }

    /// The one request submit.sock answers.
    public static let submitLocalRequest = "queue.submitLocal"
    /// World-connectable: any local user may submit mail, as any user may run sendmail.
    public static let submissionSocketMode: mode_t = 0o666
    /// Connections one local user may hold on submit.sock: enough for a few programs sending at
    /// once, few enough that one user cannot take the queue's connection slots.
    public static let maxConnectionsPerUser = 16
}
