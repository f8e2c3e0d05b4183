import Foundation
import IPC
import IPCTransport
import NIOCore
import Synchronization
import Testing

// Serialized: several tests measure time (deadlines, restarts) and the machine has two cores.
@Suite("IPC transport over Unix sockets", .serialized)
struct TransportTests {
    static func pong(_ text: String) -> IPCBody {
        var p = Mailstack_Ipc_Pong()
        p.payload = Data(text.utf8)
        return .pong(p)
    }

    static func payload(_ body: IPCBody) -> String {
        if case let .pong(p) = body { return String(decoding: p.payload, as: UTF8.self) }
        return "not a pong: \(body)"
    }

    @Test("ping is answered with its payload")
    func ping() async throws {
        try await withServerAndClient { _, client in
            var p = Mailstack_Ipc_Ping()
            p.payload = Data("are you there".utf8)
            let reply = try await client.request(.ping(p))
            #expect(Self.payload(reply) == "are you there")
        }
    }

    @Test("the handler sees the peer's kernel credentials and announced name")
    func credentials() async throws {
        try await withServerAndClient { _, client in
            let reply = try await client.request(Self.pong("who"))
            #expect(Self.payload(reply) == "\(getuid()) \(getgid()) \(getpid()) tester")
        }
    }

    @Test("the socket file is created with mode 0660")
    func socketMode() async throws {
        let path = temporarySocketPath("mode")
        try await withServerAndClient(path: path) { _, _ in
            var st = stat()
            #expect(stat(path, &st) == 0)
            #expect(st.st_mode & 0o777 == 0o660)
            #expect(st.st_mode & S_IFMT == S_IFSOCK)
        }
    }

    @Test("1000 pipelined requests on one connection get their own replies")
    func pipelining() async throws {
        try await withServerAndClient { _, client in
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<1000 {
                    group.addTask {
                        var p = Mailstack_Ipc_Ping()
                        p.payload = Data("n\(i)".utf8)
                        return Self.payload(try await client.request(.ping(p))) == "n\(i)"
                    }
                }
                var matched = 0
                for try await ok in group where ok { matched += 1 }
                #expect(matched == 1000)
            }
        }
    }

    @Test("a 6 MB body crosses as bounded chunks under the smallest frame cap")
    func streaming() async throws {
        var pattern = ByteBuffer()
        for i in 0..<65_521 { pattern.writeInteger(UInt8(truncatingIfNeeded: i &* 7)) } // a prime length: chunks differ
        var expected = ByteBuffer()
        while expected.readableBytes < 6 << 20 {
            var piece = pattern.getSlice(at: 0, length: min(pattern.readableBytes, (6 << 20) - expected.readableBytes))!
            expected.writeBuffer(&piece)
        }
        let body = expected
        let checksum = String(UInt32(truncatingIfNeeded: body.readableBytesView.reduce(0) { $0 &* 31 &+ Int($1) }))
        // A generous deadline: ~1,500 frames each way in a debug build take seconds, and tens of
        // seconds on a CI machine busy with the other suites; what is checked is the bytes.
        try await withServerAndClient(maxFrame: IPCLimits.minMaxFrame, requestTimeout: .seconds(120)) { _, client in
            // Pieces of odd sizes, larger than a chunk: the client splits them.
            let pieces = AsyncStream<ByteBuffer> { c in
                var rest = body
                while rest.readableBytes > 0 { c.yield(rest.readSlice(length: min(rest.readableBytes, 100_003))!) }
                c.finish()
            }
            let reply = try await client.request(Self.pong("stream"), streaming: pieces)
            guard case let .pong(p) = reply else { Issue.record("no pong"); return }
            #expect(p.streamBytes == 6 << 20)
            #expect(p.service == checksum)
            // Several streams at once on the same connection, interleaved with plain requests.
            try await withThrowingTaskGroup(of: UInt64.self) { group in
                for n in 1...8 {
                    group.addTask {
                        let s = AsyncStream<ByteBuffer> { c in
                            for _ in 0..<n { c.yield(ByteBuffer(repeating: 0x41, count: 100_000)) }
                            c.finish()
                        }
                        guard case let .pong(p) = try await client.request(Self.pong("s"), streaming: s) else { return 0 }
                        return p.streamBytes
                    }
                    group.addTask { _ = try await client.request(.ping(Mailstack_Ipc_Ping())); return 0 }
                }
                var total: UInt64 = 0
                for try await n in group { total += n }
                #expect(total == 36 * 100_000)
            }
        }
    }

    @Test("a body source that fails aborts the stream; the connection stays usable")
    func abortedStream() async throws {
        struct SourceFailed: Error {}
        try await withServerAndClient { _, client in
            let failing = AsyncThrowingStream<ByteBuffer, Error> { c in
                c.yield(ByteBuffer(repeating: 1, count: 1000))
                c.finish(throwing: SourceFailed())
            }
            await #expect(throws: SourceFailed.self) { try await client.request(Self.pong("x"), streaming: failing) }
            let replyAfter = try await client.request(Self.pong("after"))
            #expect(Self.payload(replyAfter).hasSuffix("tester"))
        }
    }

    @Test("200 concurrent clients are all answered")
    func manyClients() async throws {
        let path = temporarySocketPath("many")
        try await withServerAndClient(path: path) { _, _ in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for c in 0..<200 {
                    group.addTask {
                        let client = IPCClient(configuration: .init(path: path, service: "test", clientName: "c\(c)"), logger: testLogger)
                        return try await withThrowingTaskGroup(of: Int.self) { inner in
                            inner.addTask { await client.run(); return 0 }
                            var ok = 0
                            for _ in 0..<10 where Self.payload(try await client.request(Self.pong("x"))).hasSuffix("c\(c)") { ok += 1 }
                            inner.cancelAll()
                            return ok
                        }
                    }
                }
                var total = 0
                for try await n in group { total += n }
                #expect(total == 2000)
            }
        }
    }

    @Test("a server restarted under a pipelining client: in-flight requests fail as temporary, then it recovers")
    func restart() async throws {
        let path = temporarySocketPath("restart")
        let first = try await IPCServer.bind(.path(path), configuration: .init(service: "test"), logger: testLogger)
        let client = IPCClient(configuration: .init(path: path, service: "test", clientName: "tester",
                                                    requestTimeout: .seconds(10), backoffInitial: .milliseconds(20)),
                               logger: testLogger)
        let outcomes = Locked<(ok: Int, unavailable: Int, other: [String])>((0, 0, []))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            let firstServing = Task { try await first.serve(EchoPeerHandler()) }
            let load = Task {
                while !Task.isCancelled {
                    await withTaskGroup(of: Void.self) { batch in
                        for _ in 0..<16 {
                            batch.addTask {
                                do {
                                    _ = try await client.request(Self.pong("p"))
                                    outcomes.withLock { $0.ok += 1 }
                                } catch let error as IPCError where error.isUnavailable {
                                    outcomes.withLock { $0.unavailable += 1 }
                                } catch {
                                    outcomes.withLock { $0.other.append("\(error)") }
                                }
                            }
                        }
                    }
                    try? await Task.sleep(for: .milliseconds(1))
                }
            }
            try await TestSupport.eventually { outcomes.withLock { $0.ok } > 0 }
            // A request the old server will never answer: the restart must fail it, not hang it.
            let inFlight = Task { try await client.request(Self.pong("slow")) }
            try await Task.sleep(for: .milliseconds(50))
            let beforeRestart = outcomes.withLock { $0.ok }
            firstServing.cancel() // the process dies: its listener and every connection close
            _ = await firstServing.result
            let lost = await inFlight.result
            try await Task.sleep(for: .milliseconds(100))
            let second = try await IPCServer.bind(.path(path), configuration: .init(service: "test"), logger: testLogger)
            group.addTask { try await second.serve(EchoPeerHandler()) }
            // The client reconnects on its own (backoff from 20 ms): answers resume.
            try await TestSupport.eventually { outcomes.withLock { $0.ok } > beforeRestart + 16 }
            let afterRestart = outcomes.withLock { $0.ok }
            load.cancel()
            _ = await load.result
            let final = outcomes.withLock { $0 }
            #expect(beforeRestart > 0)
            switch lost {
            case .success: Issue.record("the in-flight request was answered by a dead server")
            case let .failure(error): #expect((error as? IPCError)?.isUnavailable == true, "\(error)")
            }
            #expect(afterRestart > beforeRestart, "requests succeed again after the restart")
            #expect(final.other.isEmpty, "only temporary failures: \(final.other.prefix(3))")
            let replyEnd = try await client.request(Self.pong("end"))
            #expect(Self.payload(replyEnd).hasSuffix("tester"))
            group.cancelAll()
        }
        unlink(path)
    }

    @Test("a request past its deadline fails with a timeout; the connection stays usable")
    func timeout() async throws {
        try await withServerAndClient(requestTimeout: .milliseconds(200)) { _, client in
            await #expect(throws: IPCError.timeout(service: "test", seconds: 0.2)) {
                try await client.request(Self.pong("slow"))
            }
            let replyFast = try await client.request(Self.pong("fast"))
            #expect(Self.payload(replyFast).hasSuffix("tester"))
        }
    }

    @Test("no server: requests fail at once as peer unavailable")
    func unavailable() async throws {
        let client = IPCClient(configuration: .init(path: "/nonexistent/x.sock", service: "queue", clientName: "t",
                                                    requestTimeout: .seconds(30)), logger: testLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            let start = ContinuousClock.now
            do {
                _ = try await client.request(.ping(Mailstack_Ipc_Ping()))
                Issue.record("request succeeded with no server")
            } catch let error as IPCError {
                #expect(error.isUnavailable)
            }
            #expect(ContinuousClock.now - start < .seconds(2))
            group.cancelAll()
        }
    }

    @Test("a client that finds another service there refuses it")
    func wrongService() async throws {
        let path = temporarySocketPath("wrong")
        try await withServerAndClient(path: path, service: "relay-policy") { _, _ in
            let client = IPCClient(configuration: .init(path: path, service: "queue", clientName: "t"), logger: testLogger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await client.run() }
                try await Task.sleep(for: .milliseconds(100))
                await #expect(throws: IPCError.self) { try await client.request(.ping(Mailstack_Ipc_Ping())) }
                #expect(!client.isConnected)
                group.cancelAll()
            }
        }
    }

    // MARK: bad input from a raw socket

    @Test("an oversized frame gets TOO_LARGE and a closed connection; the server keeps serving")
    func rawOversized() async throws {
        let path = temporarySocketPath("big")
        try await withServerAndClient(path: path, maxFrame: IPCLimits.minMaxFrame) { _, client in
            let raw = try RawSocket(path: path)
            try raw.sendHello()
            let hello = try await raw.receive()
            #expect(hello?.typeName == "hello")
            raw.send([0x7f, 0xff, 0xff, 0xff]) // 2 GiB announced, nothing allocated
            let reply = try #require(try await raw.receive())
            guard case let .error(e) = reply.body else { Issue.record("expected error, got \(reply)"); return }
            #expect(e.code == .tooLarge)
            let closedraw = try await raw.isClosed()
            #expect(closedraw)
            let replyStill = try await client.request(Self.pong("still"))
            #expect(Self.payload(replyStill).hasSuffix("tester"))
        }
    }

    @Test("garbage instead of an envelope gets BAD_REQUEST and a closed connection")
    func rawGarbage() async throws {
        let path = temporarySocketPath("garbage")
        try await withServerAndClient(path: path) { _, _ in
            let raw = try RawSocket(path: path)
            try raw.sendHello()
            _ = try await raw.receive()
            raw.send([0, 0, 0, 3, 0xff, 0xff, 0xff])
            let reply = try #require(try await raw.receive())
            guard case let .error(e) = reply.body else { Issue.record("expected error"); return }
            #expect(e.code == .badRequest)
            let closedraw = try await raw.isClosed()
            #expect(closedraw)
        }
    }

    @Test("an unknown message type gets UNKNOWN_TYPE with its id; the connection stays open")
    func rawUnknownType() async throws {
        let path = temporarySocketPath("unknown")
        try await withServerAndClient(path: path) { _, _ in
            let raw = try RawSocket(path: path)
            try raw.sendHello()
            _ = try await raw.receive()
            raw.send([0, 0, 0, 5, 0x08, 0x2a, 0x9a, 0x06, 0x00]) // id 42, field 99
            let reply = try #require(try await raw.receive())
            #expect(reply.requestID == 42)
            guard case let .error(e) = reply.body else { Issue.record("expected error"); return }
            #expect(e.code == .unknownType)
            try raw.send(IPCEnvelope(id: 43, body: .ping(Mailstack_Ipc_Ping())))
            let pong = try await raw.receive()
            #expect(pong?.typeName == "pong")
        }
    }

    @Test("a hello with another protocol version gets VERSION_MISMATCH and a closed connection")
    func rawVersion() async throws {
        let path = temporarySocketPath("version")
        try await withServerAndClient(path: path) { _, _ in
            let raw = try RawSocket(path: path)
            try raw.sendHello(version: 99)
            let reply = try #require(try await raw.receive())
            guard case let .error(e) = reply.body else { Issue.record("expected error"); return }
            #expect(e.code == .versionMismatch)
            #expect(e.message.contains("99"))
            let closedraw = try await raw.isClosed()
            #expect(closedraw)
        }
    }

    @Test("a request before hello, and a truncated frame, close the connection")
    func rawNoHelloAndTruncated() async throws {
        let path = temporarySocketPath("nohello")
        try await withServerAndClient(path: path) { _, client in
            let raw = try RawSocket(path: path)
            try raw.send(IPCEnvelope(id: 1, body: .ping(Mailstack_Ipc_Ping())))
            let reply = try #require(try await raw.receive())
            guard case let .error(e) = reply.body else { Issue.record("expected error"); return }
            #expect(e.code == .badRequest)
            let closedraw = try await raw.isClosed()
            #expect(closedraw)

            let truncated = try RawSocket(path: path)
            try truncated.sendHello()
            _ = try await truncated.receive()
            truncated.send([0, 0, 0, 100, 1, 2, 3])
            shutdown(truncated.fd, Int32(SHUT_WR))
            let closedtruncated = try await truncated.isClosed()
            #expect(closedtruncated)
            let replyAlive = try await client.request(Self.pong("alive"))
            #expect(Self.payload(replyAlive).hasSuffix("tester"))
        }
    }
}
