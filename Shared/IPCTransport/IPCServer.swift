#if canImport(Glibc)
import Glibc
#endif
import IPC
import Logging
import Listeners
import NIOCore
import NIOPosix
import Synchronization

/// Where an IPC server listens.
public enum IPCListenAddress: Sendable, CustomStringConvertible {
    /// Bind a Unix socket at this path (an old socket file there is replaced).
    case path(String)
    /// Use a socket that is already bound and listening (systemd socket activation).
    case inherited(fd: CInt, name: String)

    public var description: String {
        switch self {
        case let .path(p): return p
        case let .inherited(fd, name): return "fd \(fd) (\(name))"
        }
    }
}

public struct IPCServerConfiguration: Sendable {
    /// The name this server announces in its hello.
    public var service: String
    /// Cap on an incoming frame's payload.
    public var maxFrame: Int
    /// Requests of one connection answered concurrently; further requests wait to be read.
    public var maxInFlightPerConnection: Int
    /// Streams one connection may have open at once.
    public var maxStreamsPerConnection: Int
    /// Mode of a socket file this server creates (0660: owner and group only).
    public var socketMode: mode_t
    /// Owner and group of a socket file this server creates (nil: leave as created).
    public var socketOwner: uid_t?
    public var socketGroup: gid_t?
    /// Who may send each request type (by `IPCEnvelope.typeName`, "queue.submit"), decided from
    /// the kernel's peer credentials. A type not listed is open to whoever may reach the socket.
    /// A peer sending a request it may not gets PERMISSION_DENIED and loses the connection.
    public var requestPolicies: [String: IPCPeerPolicy] = [:]
    /// The only request types this listener answers (nil: any). A socket open to every local
    /// user (the queue's submit.sock) names its one request here: anything else, ping included,
    /// gets PERMISSION_DENIED and the connection is closed, before any handler sees it.
    public var allowedRequests: Set<String>?
    /// Time from connect to the peer's hello; a peer that says nothing is disconnected.
    public var helloTimeout: Duration = .seconds(10)
    /// Connections one peer uid may hold at once (the services keep one or a few each; the
    /// administrator's tool one per command).
    public var maxConnectionsPerPeer = 256

    public init(
        service: String,
        maxFrame: Int = IPCLimits.defaultMaxFrame,
        maxInFlightPerConnection: Int = 256,
        maxStreamsPerConnection: Int = 1024,
        socketMode: mode_t = 0o660,
        socketOwner: uid_t? = nil,
        socketGroup: gid_t? = nil
    ) {
        precondition(maxFrame >= IPCLimits.minMaxFrame, "frame cap below \(IPCLimits.minMaxFrame)")
        self.service = service
        self.maxFrame = maxFrame
        self.maxInFlightPerConnection = maxInFlightPerConnection
        self.maxStreamsPerConnection = maxStreamsPerConnection
        self.socketMode = socketMode
        self.socketOwner = socketOwner
        self.socketGroup = socketGroup
    }
}

/// A bound IPC listener. `bind` returns once the socket accepts connections (so a daemon can
/// tell systemd READY=1); `serve` answers connections until the task is cancelled.
public final class IPCServer: Sendable {
    public let configuration: IPCServerConfiguration
    public let address: IPCListenAddress
    let channel: NIOAsyncChannel<ChannelIO<ByteBuffer>, Never>
    let logger: Logger
    /// Open connections per peer uid.
    let connections = Mutex([UInt32: Int]())
    /// Counts the connections of a service systemd starts on demand (`bind`'s `idle`).
    public let idle: IdleTracker?

    init(
        configuration: IPCServerConfiguration,
        address: IPCListenAddress,
        channel: NIOAsyncChannel<ChannelIO<ByteBuffer>, Never>,
        logger: Logger,
        idle: IdleTracker?
    ) {
        self.configuration = configuration
        self.address = address
        self.channel = channel
        self.logger = logger
        self.idle = idle
    }

    /// `idle` counts the connections of a service systemd starts on demand; one accepted while
    /// it stops is closed before the hello (the client connects again at once).
    public static func bind(
        _ address: IPCListenAddress,
        configuration: IPCServerConfiguration,
        logger: Logger,
        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        idle: IdleTracker? = nil
    ) async throws -> IPCServer {
        let maxFrame = configuration.maxFrame
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
        let initializer: @Sendable (Channel) -> EventLoopFuture<ChannelIO<ByteBuffer>> = { child in
            idle?.track(child)
            return child.eventLoop.makeCompletedFuture { try IPCPipeline.configure(child, maxFrame: maxFrame) }
        }
        let channel: NIOAsyncChannel<ChannelIO<ByteBuffer>, Never>
        switch address {
        case let .path(path):
            // Bind under a temporary name, set mode and owner, then rename into place, so the
            // socket is never reachable with looser permissions than configured.
            let temporary = path + ".new.\(getpid())"
            unlink(temporary)
            channel = try await bootstrap.bind(unixDomainSocketPath: temporary, childChannelInitializer: initializer)
            do {
                try SocketFile.secure(temporary, mode: configuration.socketMode,
                                      owner: configuration.socketOwner, group: configuration.socketGroup)
                try SocketFile.rename(temporary, to: path)
            } catch {
                try? await channel.channel.close()
                unlink(temporary)
                throw error
            }
        case let .inherited(fd, _):
            channel = try await bootstrap.bind(fd, childChannelInitializer: initializer)
        }
        var logger = logger
        logger[metadataKey: "ipc.listen"] = "\(address)"
        return IPCServer(configuration: configuration, address: address, channel: channel, logger: logger, idle: idle)
    }

    /// Answers connections with `handler` until cancelled; then closes the listener. A socket
    /// file this server created is left in place (systemd or the next start replaces it).
    public func serve(_ handler: some IPCRequestHandler) async throws {
        try await withTaskCancellationHandler {
            try await channel.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in inbound {
                        group.addTask {
                            await self.serve(connection, handler: handler)
                        }
                    }
                }
            }
        } onCancel: {
            self.channel.channel.close(promise: nil)
        }
    }

    /// One connection, counted against its peer's cap.
    func serve(_ connection: ChannelIO<ByteBuffer>, handler: some IPCRequestHandler) async {
        guard let peer = try? await IPCPeer.credentials(of: connection.channel) else {
            await connection.close()
            return
        }
        let admitted = connections.withLock { open in
            guard open[peer.uid, default: 0] < configuration.maxConnectionsPerPeer else { return false }
            open[peer.uid, default: 0] += 1
            return true
        }
        guard admitted else {
            logger.warning("ipc connection refused: \(peer) already has \(configuration.maxConnectionsPerPeer) connections")
            await connection.close()
            return
        }
        defer {
            connections.withLock { open in
                open[peer.uid, default: 1] -= 1
                if open[peer.uid] == 0 { open[peer.uid] = nil }
            }
        }
        await IPCServerConnection.serve(connection, peer: peer, handler: handler, configuration: configuration, logger: logger)
    }

    /// Closes the listener (serve returns once connections end).
    public func close() async {
        try? await channel.channel.close()
    }
}

/// Socket file chores: mode and owner, atomic rename.
enum SocketFile {
    static func secure(_ path: String, mode: mode_t, owner: uid_t?, group: gid_t?) throws {
        guard chmod(path, mode) == 0 else { throw IPCError.peerUnavailable(service: path, reason: "chmod: \(errnoText())") }
        if owner != nil || group != nil {
            guard chown(path, owner ?? uid_t.max, group ?? gid_t.max) == 0 else {
                throw IPCError.peerUnavailable(service: path, reason: "chown: \(errnoText())")
            }
        }
    }

    static func rename(_ from: String, to: String) throws {
        guard Glibc.rename(from, to) == 0 else {
            throw IPCError.peerUnavailable(service: to, reason: "rename: \(errnoText())")
        }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
