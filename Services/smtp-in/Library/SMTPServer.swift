import Listeners
import Logging
import NIOCore
import Timing
import NIOPosix
import ServiceLifecycle

/// A session's reads and writes (see `ChannelIO`).
typealias SMTPChannelIO = ChannelIO<SMTPInput>

/// The SMTP listeners (port 25, and the submission port when configured): TCP sockets passed
/// by systemd or bound from smtp.listen, one task per connection, connection caps in total and
/// per client address.
public final class SMTPServer: Sendable {
    public typealias Listen = TCPListeners<Connection>.Address

    public struct Connection: Sendable {
        let io: SMTPChannelIO
        let mode: SMTPInputMode
    }

    let listeners: TCPListeners<Connection>
    let environment: SMTPEnvironment
    let submission: Bool

    init(listeners: TCPListeners<Connection>, environment: SMTPEnvironment, submission: Bool) {
        self.listeners = listeners
        self.environment = environment
        self.submission = submission
    }

    /// Binds every listener; returns once they accept connections. `submission`: the
    /// submission listener (AUTH after STARTTLS, MAIL only when authenticated). `stopWhenIdle`
    /// counts the connections of an smtp-in systemd started on demand.
    public static func bind(_ addresses: [Listen], environment: SMTPEnvironment, submission: Bool = false,
                            group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                            stopWhenIdle: IdleTracker? = nil) async throws -> SMTPServer {
        let logger = environment.logger
        let writeTimeout = environment.commandTimeout.timeAmount
        let listeners = try await TCPListeners<Connection>.bind(addresses, group: group, idle: stopWhenIdle, acceptFailed: { error in
            logger.warning("accepting a connection: \(error)")
        }) { channel in
            channel.eventLoop.makeCompletedFuture {
                let mode = SMTPInputMode()
                try channel.pipeline.syncOperations.addHandler(WriteStallCloser(timeout: writeTimeout))
                try channel.pipeline.syncOperations.addHandler(SMTPReadGate(mode: mode))
                try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPInputDecoder(mode: mode)))
                return Connection(io: try SMTPChannelIO(synchronouslyOn: channel), mode: mode)
            }
        }
        return SMTPServer(listeners: listeners, environment: environment, submission: submission)
    }

    /// The ports bound (for tests that bind port 0).
    public var localPorts: [Int] { listeners.localPorts }

    /// Serves until cancelled.
    public func serve() async throws {
        try await listeners.serve { await self.handle($0) }
    }

    func handle(_ connection: Connection) async {
        let io = connection.io
        let channel = io.channel
        let address = channel.remoteAddress?.clientAddress ?? "unknown"
        let limits = environment.connections
        guard limits.open(address, maxTotal: environment.maxConnections, maxPerAddress: environment.maxConnectionsPerClient) else {
            environment.logger.notice("[\(address)]: too many connections; refused")
            try? await io.write(ByteBuffer(string: "421 4.3.2 \(environment.hostname) Too many connections; try again later\r\n"))
            await io.close()
            return
        }
        defer { limits.close(address) }
        let link = SMTPConnection(channel: channel, mode: connection.mode, tlsContext: environment.tlsContext)
        do {
            var session = SMTPSession(environment: environment, address: address, io: io, connection: link, submission: submission)
            try await session.run()
        } catch {
            environment.logger.debug("smtp connection from [\(address)] ended: \(error)")
        }
        await io.close()
        link.disarm()
    }
}

/// The SMTP server as a lifecycle service: stops accepting at graceful shutdown.
public struct SMTPService: Service {
    let server: SMTPServer
    public init(server: SMTPServer) { self.server = server }

    public func run() async throws {
        try await cancelWhenGracefulShutdown { try await self.server.serve() }
    }
}
