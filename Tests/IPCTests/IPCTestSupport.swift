import Foundation
@_exported import TestSupport
import IPC
import IPCTransport
import Logging
import NIOCore
import Synchronization

/// Answers test requests: a Pong body sent as a request is echoed with the peer's credentials
/// in its payload ("uid gid pid service"), so tests see what the handler saw. Streams are
/// summed. (The transport does not care which body types a service uses.)
struct EchoPeerHandler: IPCRequestHandler {
    func handle(_ request: IPCRequest, stream: IPCBodyStream?) async throws -> IPCBody {
        guard case let .pong(pong) = request.body else { throw IPCHandlerError(.unknownType, "test handler") }
        if pong.payload == Data("slow".utf8) { try await Task.sleep(for: .seconds(5)) }
        var reply = Mailstack_Ipc_Pong()
        let p = request.peer
        reply.payload = Data("\(p.uid) \(p.gid) \(p.pid) \(p.service)".utf8)
        if let stream {
            let all = try await stream.collect(upTo: 64 << 20)
            reply.streamBytes = UInt64(all.readableBytes)
            reply.service = String(UInt32(truncatingIfNeeded: all.readableBytesView.reduce(0) { $0 &* 31 &+ Int($1) }))
        }
        return .pong(reply)
    }
}

/// A temporary socket path, short enough for sun_path.
func temporarySocketPath(_ tag: String) -> String {
    "/tmp/ms-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
}

let testLogger = Logger(label: "mailstack.test")

/// Runs a server at `path` with `configure`d settings for the duration of `body`.
func withServer<T: Sendable>(
    path: String = temporarySocketPath("ipc"),
    configure: (inout IPCServerConfiguration) -> Void,
    _ body: @Sendable (IPCServer) async throws -> T
) async throws -> T {
    var configuration = IPCServerConfiguration(service: "test")
    configure(&configuration)
    let server = try await IPCServer.bind(.path(path), configuration: configuration, logger: testLogger)
    defer { unlink(path) }
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.serve(EchoPeerHandler()) }
        defer { group.cancelAll() }
        return try await body(server)
    }
}

/// Runs a server at `path` and a connected client for the duration of `body`.
func withServerAndClient<T: Sendable>(
    path: String = temporarySocketPath("ipc"),
    service: String = "test",
    maxFrame: Int = IPCLimits.defaultMaxFrame,
    requestTimeout: Duration = .seconds(30),
    _ body: @Sendable (IPCServer, IPCClient) async throws -> T
) async throws -> T {
    let server = try await IPCServer.bind(.path(path), configuration: .init(service: service, maxFrame: maxFrame), logger: testLogger)
    let client = IPCClient(configuration: .init(path: path, service: service, clientName: "tester", requestTimeout: requestTimeout),
                           logger: testLogger)
    defer { unlink(path) }
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.serve(EchoPeerHandler()) }
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        return try await body(server, client)
    }
}

/// A blocking raw Unix-socket client for feeding servers bytes no well-behaved client sends.
/// Reads go through `TestSupport.offPool`.
final class RawSocket: @unchecked Sendable {
    let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard Self.withAddress(path, { connect(fd, $0, $1) }) == 0 else { throw POSIXError(.ECONNREFUSED) }
        // Bounds a broken build only (reads wait for the server's event): generous, so a loaded
        // machine running the suite in parallel never fails a read that would have succeeded.
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// `call` with the Unix socket address of `path`.
    static func withAddress(_ path: String, _ call: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { call($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    /// A connection accepted by `RawListener`.
    init(accepted fd: Int32) {
        self.fd = fd
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// Octets received and not read yet.
    var waiting: Int32 {
        var count: Int32 = 0
        _ = ioctl(fd, UInt(FIONREAD), &count)
        return count
    }

    /// What one read(2) returns: the frames that arrived together.
    func readOnce() async throws -> [UInt8] {
        try await TestSupport.offPool {
            var out = [UInt8](repeating: 0, count: 1 << 20)
            let n = out.withUnsafeMutableBytes { Glibc.read(self.fd, $0.baseAddress!, $0.count) }
            return Array(out.prefix(max(n, 0)))
        }
    }

    /// The envelopes of whole frames in `bytes`.
    static func frames(_ bytes: [UInt8]) throws -> [IPCEnvelope] {
        var rest = bytes[...]
        var out: [IPCEnvelope] = []
        while rest.count >= 4 {
            let length = rest.prefix(4).reduce(0) { $0 << 8 | Int($1) }
            guard rest.count >= 4 + length else { break }
            out.append(try IPCCodec.decode(ByteBuffer(bytes: rest.dropFirst(4).prefix(length))))
            rest = rest.dropFirst(4 + length)
        }
        return out
    }

    func send(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }

    func send(_ envelope: IPCEnvelope) throws { send(Array(try IPCCodec.encodeFrame(envelope).readableBytesView)) }

    func sendHello(service: String = "raw", version: UInt32 = IPCProtocol.version) throws {
        var hello = Mailstack_Ipc_Hello()
        hello.protocolVersion = version
        hello.service = service
        try send(IPCEnvelope(id: 0, body: .hello(hello)))
    }

    /// Reads one frame's envelope; nil at end of stream.
    func receive() async throws -> IPCEnvelope? { try await TestSupport.offPool { try self.receiveBlocking() } }

    /// True when the server closed the connection.
    func isClosed() async throws -> Bool { try await TestSupport.offPool { self.isClosedBlocking() } }

    func receiveBlocking() throws -> IPCEnvelope? {
        guard let header = read(4) else { return nil }
        let length = header.reduce(0) { $0 << 8 | Int($1) }
        guard let payload = read(length) else { return nil }
        return try IPCCodec.decode(ByteBuffer(bytes: payload))
    }

    func isClosedBlocking() -> Bool {
        var byte: UInt8 = 0
        return Glibc.read(fd, &byte, 1) == 0
    }

    private func read(_ count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        var have = 0
        while have < count {
            let n = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + have, count - have) }
            if n <= 0 { return nil }
            have += n
        }
        return out
    }
}

/// A listening Unix socket played by a test (a server that answers by hand).
final class RawListener: @unchecked Sendable {
    let fd: Int32
    let path: String

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard RawSocket.withAddress(path, { bind(fd, $0, $1) }) == 0, listen(fd, 4) == 0 else { throw POSIXError(.EADDRINUSE) }
    }

    deinit {
        close(fd)
        unlink(path)
    }

    func accept() async throws -> RawSocket {
        try await TestSupport.offPool {
            let connection = Glibc.accept(self.fd, nil, nil)
            guard connection >= 0 else { throw POSIXError(.ECONNABORTED) }
            return RawSocket(accepted: connection)
        }
    }
}
