import NIOCore
import NIOPosix

/// The TCP listeners of a server (smtp-in, pop3): sockets passed by systemd or bound from the
/// configuration, each accepted connection set up by `initializer` on its event loop and then
/// handled in a task of its own.
public struct TCPListeners<Connection: Sendable>: Sendable {
    public enum Address: Sendable {
        case address(host: String, port: Int)
        case inherited(fd: CInt)
    }

    let channels: [NIOAsyncChannel<Connection, Never>]

    /// Binds every address; returns once they accept connections. `acceptFailed` hears of a
    /// connection that could not be accepted (EMFILE: NIO backs off and tries again) or whose
    /// socket option was refused; the listener goes on either way.
    public static func bind(
        _ addresses: [Address],
        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        acceptFailed: @escaping @Sendable (any Error) -> Void = { _ in },
        initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Connection>
    ) async throws -> TCPListeners {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptErrorHandler(report: acceptFailed))
                }
            }
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)

        // TCP_NODELAY is set here rather than as a childChannelOption: a failing child option
        // fails that connection's setup, which NIOAsyncChannel turns into the end of the whole
        // accept stream (smtp-in exited when an unprivileged user could not set it).
        let initializer: @Sendable (Channel) -> EventLoopFuture<Connection> = { channel in
            channel.setOption(.tcpOption(.tcp_nodelay), value: 1)
                .flatMapErrorThrowing { acceptFailed($0) }
                .flatMap { initializer(channel) }
        }
        var channels: [NIOAsyncChannel<Connection, Never>] = []
        for address in addresses {
            switch address {
            case let .address(host, port):
                channels.append(try await bootstrap.bind(host: host, port: port, childChannelInitializer: initializer))
            case let .inherited(fd):
                channels.append(try await bootstrap.bind(fd, childChannelInitializer: initializer))
            }
        }
        return TCPListeners(channels: channels)
    }

    /// The ports bound (for tests that bind port 0).
    public var localPorts: [Int] { channels.compactMap { $0.channel.localAddress?.port } }

    /// Accepts until cancelled, each connection handled in its own task.
    public func serve(_ handle: @escaping @Sendable (Connection) async -> Void) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for listener in channels {
                group.addTask {
                    try await listener.executeThenClose { inbound in
                        try await withThrowingDiscardingTaskGroup { connections in
                            for try await connection in inbound {
                                connections.addTask { await handle(connection) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Sits in front of the listener's async stream and reports errors of single accepts (EMFILE,
/// ENFILE, ...), which NIO's accept back-off otherwise handles without a word.
final class AcceptErrorHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = Channel
    let report: @Sendable (any Error) -> Void

    init(report: @escaping @Sendable (any Error) -> Void) {
        self.report = report
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        report(error)
    }
}
