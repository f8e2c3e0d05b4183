import Foundation
import IPC
import IPCTransport
import NIOCore
import Testing

/// What a compromised neighbour on the IPC sockets can no longer do: hold connections without
/// saying hello, open connections without bound, open streams past the in-flight limit.
@Suite("IPC limits per peer")
struct IPCPeerLimitTests {
    @Test("a peer that says nothing is disconnected after the hello timeout")
    func helloTimeout() async throws {
        let path = temporarySocketPath("silent")
        try await withServer(path: path, configure: { $0.helloTimeout = .milliseconds(200) }) { _ in
            let raw = try RawSocket(path: path)
            #expect(try await raw.isClosed())
        }
    }

    @Test("connections per peer uid are capped; a closed one frees its place")
    func connectionsPerPeer() async throws {
        let path = temporarySocketPath("cap")
        try await withServer(path: path, configure: { $0.maxConnectionsPerPeer = 2 }) { _ in
            let first = try RawSocket(path: path), second = try RawSocket(path: path)
            for raw in [first, second] {
                try raw.sendHello()
                #expect(try await raw.receive()?.typeName == "hello")
            }
            let third = try RawSocket(path: path)
            #expect(try await third.isClosed(), "over the cap")
            shutdown(first.fd, Int32(SHUT_RDWR))
            try await TestSupport.eventually {
                guard let again = try? RawSocket(path: path) else { return false }
                try? again.sendHello()
                return (try? again.receiveBlocking())?.typeName == "hello"
            }
        }
    }

    @Test("streams count against the in-flight limit: one past it is refused, not waited for")
    func streamsInFlight() async throws {
        let path = temporarySocketPath("streams")
        try await withServer(path: path, configure: { $0.maxInFlightPerConnection = 2 }) { _ in
            let raw = try RawSocket(path: path)
            try raw.sendHello()
            _ = try await raw.receive()
            for id in 1...3 as ClosedRange<UInt64> {
                var envelope = IPCEnvelope(id: id, body: .pong(Mailstack_Ipc_Pong()))
                envelope.streamFollows = true
                try raw.send(envelope)
            }
            let reply = try #require(try await raw.receive())
            #expect(reply.requestID == 3)
            guard case let .error(error) = reply.body else { Issue.record("expected an error, got \(reply.typeName)"); return }
            #expect(error.code == .unavailable)
            #expect(try await raw.isClosed())
        }
    }

    @Test("a request type limited to some peers is refused to others, and the connection closed")
    func requestPolicy() async throws {
        // Root is always allowed, so the refused peer is another user: ipc-bench as nobody.
        let path = temporarySocketPath("policy")
        try await withServer(path: path, configure: {
            $0.socketMode = 0o666
            $0.requestPolicies = ["ping": IPCPeerPolicy()]
        }) { _ in
            let bench = [TestSupport.binary("ipc-bench"), "--socket", path, "--service", "test", "--requests", "1", "--concurrency", "1"]
            let refused = try await TestSupport.runAsync(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + bench)
            #expect(refused.status != 0)
            #expect((refused.stdout + refused.stderr).contains("ping is not allowed to this peer"), "\(refused.stderr)")
            let allowed = try await TestSupport.runAsync(bench)
            #expect(allowed.status == 0, "\(allowed.stderr)")
        }
    }
}
