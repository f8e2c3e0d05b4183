#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

/// The TCP listeners of a server (smtp-in, pop3): sockets passed by systemd or bound from the
/// configuration, each accepted connection set up by `initializer` on its event loop and then
/// handled in a task of its own.
///
/// A bound address gets one listening socket per event loop (SO_REUSEPORT: the kernel spreads
/// connections over them), and a connection stays on the loop that accepted it: its setup, its
/// task (tasks run on the loops, `Daemon.runTasksOnEventLoops`) and its IPC questions (a client
/// connection per loop) never hand work to another thread. (With one accepting loop handing
/// connections to the others, a connection crossed threads four times before its greeting.) A
/// socket passed by systemd is one socket: one loop accepts on it and hands connections round.
/// (Sharing one socket among the loops would wake them all for each connection, and NIO holds
/// a wake-up with nothing to accept for an error.) SO_REUSEPORT lets only sockets of the same
/// user join the port: the service's own.
public struct TCPListeners<Connection: Sendable>: Sendable {
    public enum Address: Sendable {
        case address(host: String, port: Int)
        case inherited(fd: CInt)
    }

    /// Per address, its listening channels: one per event loop, or the one socket passed.
    let channels: [[NIOAsyncChannel<Connection, Never>]]

    /// Binds every address; returns once they accept connections. `acceptFailed` hears of a
    /// connection that could not be accepted (EMFILE: NIO backs off and tries again) or whose
    /// socket option was refused; the listener goes on either way. `idle` counts the
    /// connections of a service systemd starts on demand.
    public static func bind(
        _ addresses: [Address],
        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        idle: IdleTracker? = nil,
        acceptFailed: @escaping @Sendable (any Error) -> Void = { _ in },
        initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Connection>
    ) async throws -> TCPListeners {
        // TCP_NODELAY is set here rather than as a childChannelOption: a failing child option
        // fails that connection's setup, which NIOAsyncChannel turns into the end of the whole
        // accept stream (smtp-in exited when an unprivileged user could not set it).
        let initializer: @Sendable (Channel) -> EventLoopFuture<Connection> = { channel in
            idle?.track(channel)
            return channel.setOption(.tcpOption(.tcp_nodelay), value: 1)
                .flatMapErrorThrowing { acceptFailed($0) }
                .flatMap { initializer(channel) }
        }
        func bootstrap(_ group: EventLoopGroup, children: EventLoopGroup) -> ServerBootstrap {
            ServerBootstrap(group: group, childGroup: children)
                .serverChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(AcceptErrorHandler(report: acceptFailed))
                    }
                }
        }
        let loops = Array(group.makeIterator())
        var channels: [[NIOAsyncChannel<Connection, Never>]] = []
        var sockets: [NIOAsyncChannel<Connection, Never>] = []
        do {
            for address in addresses {
                switch address {
                case let .address(host, port):
                    let port = try claim(host: host, port: port)
                    sockets = []
                    for loop in loops {
                        let socket = try socket(host: host, port: port, shared: true)
                        sockets.append(try await bootstrap(loop, children: loop).bind(socket, childChannelInitializer: initializer))
                    }
                    channels.append(sockets)
                    sockets = []
                case let .inherited(fd):
                    channels.append([try await bootstrap(group, children: group).bind(fd, childChannelInitializer: initializer)])
                }
            }
        } catch {
            // What was bound before the failure is let go: a caller that tries again (other
            // ports, as the tests' harness does) must not find them held.
            for channel in channels.joined() + sockets { try? await channel.channel.close() }
            throw error
        }
        return TCPListeners(channels: channels)
    }

    /// Checks that nobody listens on `host`:`port` (a second smtp-in of the same user included,
    /// which SO_REUSEPORT alone would let share the port) by binding it alone for a moment;
    /// returns the port (the one given for port 0).
    static func claim(host: String, port: Int) throws -> Int {
        let fd = try socket(host: host, port: port, shared: false)
        defer { close(fd) }
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw IOError(errnoCode: errno, reason: "getsockname") }
        return Int(UInt16(bigEndian: withUnsafeBytes(of: &address) { $0.load(fromByteOffset: 2, as: UInt16.self) }))
    }

    /// A TCP socket bound to `host` (an address or a name) and `port` (0: any); `shared`: with
    /// SO_REUSEPORT and listening, for the service's loops to bind the same port each.
    static func socket(host: String, port: Int, shared: Bool) throws -> CInt {
        let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        let fd = Glibc.socket(address.protocol.rawValue, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        var one: CInt = 1
        let bound = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size)) == 0
            && (!shared || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<CInt>.size)) == 0)
            && address.withSockAddr({ Glibc.bind(fd, $0, socklen_t($1)) }) == 0
            && (!shared || listen(fd, backlog) == 0)
        guard bound else {
            let error = IOError(errnoCode: errno, reason: "bind to \(host):\(port)")
            close(fd)
            throw error
        }
        return fd
    }

    static var backlog: CInt { 256 }

    /// The ports bound (for tests that bind port 0), one per address.
    public var localPorts: [Int] { channels.compactMap { $0.first?.channel.localAddress?.port } }

    /// Accepts until cancelled, each connection handled in its own task.
    public func serve(_ handle: @escaping @Sendable (Connection) async -> Void) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for listener in channels.joined() {
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
