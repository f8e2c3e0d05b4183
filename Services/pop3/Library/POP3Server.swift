import Listeners
import Logging
import NIOCore
import Timing
import NIOSSL
import NIOPosix
import ServiceLifecycle

/// The POP3 listeners: TCP sockets passed by systemd or bound from pop3.listen, one task per
/// connection. A session waiting longer than the idle timeout (RFC 1939: at least 10 minutes)
/// for a whole line, or longer than the login timeout for a successful login, is closed; so is
/// one whose writes stay blocked (a client that does not read) for the idle timeout.
public final class POP3Server: Sendable {
    public typealias Listen = TCPListeners<Connection>.Address

    let listeners: TCPListeners<Connection>
    let environment: POP3Environment

    /// An accepted connection and its STLS gate.
    public struct Connection: Sendable {
        let channel: NIOAsyncChannel<POP3Line, ByteBuffer>
        let gate: POP3TLSGate?
    }

    init(listeners: TCPListeners<Connection>, environment: POP3Environment) {
        self.listeners = listeners
        self.environment = environment
    }

    /// Binds every listener; returns once they accept connections. `stopWhenIdle` counts the
    /// connections of a pop3 systemd started on demand.
    public static func bind(_ addresses: [Listen], environment: POP3Environment,
                            group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                            stopWhenIdle: IdleTracker? = nil) async throws -> POP3Server {
        let idle = environment.idleTimeout.timeAmount
        let tls = environment.tlsContext != nil
        let logger = environment.logger
        let listeners = try await TCPListeners<Connection>.bind(addresses, group: group, idle: stopWhenIdle, acceptFailed: { error in
            logger.warning("accepting a connection: \(error)")
        }) { channel in
            channel.eventLoop.makeCompletedFuture {
                let gate = tls ? POP3TLSGate() : nil
                try channel.pipeline.syncOperations.addHandler(WriteStallCloser(timeout: idle))
                try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(POP3LineDecoder(gate: gate)))
                return Connection(channel: try NIOAsyncChannel<POP3Line, ByteBuffer>(synchronouslyWrapping: channel), gate: gate)
            }
        }
        return POP3Server(listeners: listeners, environment: environment)
    }

    /// The ports bound (for tests that bind port 0).
    public var localPorts: [Int] { listeners.localPorts }

    /// Serves until cancelled.
    public func serve() async throws {
        try await listeners.serve { await self.handle($0) }
    }

    func handle(_ connection: Connection) async {
        let channel = connection.channel.channel
        let client = channel.remoteAddress?.clientAddress ?? "unknown"
        var tls: POP3Session.TLS?
        if let context = environment.tlsContext, let gate = connection.gate {
            tls = POP3Session.TLS(gate: gate) {
                // In one event-loop turn: the +OK goes out in plaintext, then TLS sits in front of
                // everything read from now on, and the gate opens. What arrived before (pipelined
                // plaintext) was already discarded by the gate.
                try await channel.eventLoop.submit {
                    channel.writeAndFlush(channel.allocator.buffer(string: "+OK Begin TLS negotiation\r\n"), promise: nil)
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context), position: .first)
                    gate.open()
                }.get()
            }
        }
        do {
            try await connection.channel.executeThenClose { inbound, outbound in
                var lines = inbound.makeAsyncIterator()
                var session = POP3Session(environment: environment, client: client, output: outbound, tls: tls,
                                          deadline: ConnectionDeadline(channel: channel))
                try await session.run(&lines)
            }
        } catch {
            environment.logger.debug("pop3 connection from \(client) ended: \(error)")
        }
    }
}

/// The POP3 server as a lifecycle service: stops accepting at graceful shutdown.
public struct POP3Service: Service {
    let server: POP3Server
    public init(server: POP3Server) { self.server = server }

    public func run() async throws {
        try await cancelWhenGracefulShutdown { try await self.server.serve() }
    }
}
