import Foundation
import IPC
@testable import IPCTransport
import NIOCore
import NIOPosix
import Testing

/// A daemon's client keeps one connection per event loop, so a question asked on a loop's
/// thread goes out and comes back on that loop (no other thread woken for it).
@Suite("IPC client: a connection per event loop")
struct ConnectionPerLoopTests {
    /// Runs a server and a client of it on a group of `threads` loops for the length of `body`.
    func withClient(threads: Int, perLoop: Bool,
                    _ body: @Sendable (IPCServer, IPCClient, MultiThreadedEventLoopGroup) async throws -> Void) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let path = temporarySocketPath("perloop")
        let client = IPCClient(configuration: .init(path: path, service: "test", clientName: "tester", connectionPerEventLoop: perLoop),
                               logger: testLogger, group: group)
        try await withServer(path: path, configure: { _ in }) { server in
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await client.run() }
                defer { tasks.cancelAll() }
                try await body(server, client, group)
            }
        }
        try await group.shutdownGracefully()
    }

    @Test("each loop has its own connection, which a request made on that loop uses; the server sees them all")
    func ownLoop() async throws {
        try await withClient(threads: 3, perLoop: true) { server, client, group in
            try await TestSupport.eventually { client.slots.allSatisfy { $0.connection != nil } }
            #expect(client.slots.count == 3)
            #expect(server.connections.withLock { $0.values.reduce(0, +) } == 3)
            for loop in group.makeIterator() {
                let used = try await loop.submit { client.preferredSlot.connection?.eventLoop }.get()
                #expect(used === loop)
            }
            // Off the loops (a test's task, a command's): requests go round the connections.
            let chosen = (0..<6).map { _ in ObjectIdentifier(client.preferredSlot) }
            #expect(Set(chosen).count == 3)
            for _ in 0..<6 {
                let reply = try await client.request(TransportTests.pong("x"))
                #expect(TransportTests.payload(reply).hasSuffix("tester"))
            }
        }
    }

    @Test("a one-shot client keeps one connection")
    func single() async throws {
        try await withClient(threads: 2, perLoop: false) { server, client, _ in
            let reply = try await client.request(TransportTests.pong("x"))
            #expect(TransportTests.payload(reply).hasSuffix("tester"))
            #expect(client.slots.count == 1)
            #expect(server.connections.withLock { $0.values.reduce(0, +) } == 1)
        }
    }

    @Test("while one loop's connection is being made, a request goes over another that is up")
    func fallback() async throws {
        try await withClient(threads: 2, perLoop: true) { _, client, _ in
            try await TestSupport.eventually { client.slots.allSatisfy { $0.connection != nil } }
            let first = client.slots[0]
            let saved = first.phase.withLock { phase in defer { phase = .connecting }; return phase }
            let connection = try await client.connection(deadline: .now + .seconds(5), preferring: first)
            #expect(connection === client.slots[1].connection)
            first.phase.withLock { $0 = saved }
            #expect(try await client.connection(deadline: .now + .seconds(5), preferring: first) === first.connection)
        }
    }
}
