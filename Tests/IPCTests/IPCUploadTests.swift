import Foundation
import IPC
import IPCTransport
import NIOCore
import Testing

/// `IPCUpload`, seen from a server played by hand: what goes out on the socket, and when.
@Suite("IPC uploads", .serialized)
struct IPCUploadTests {
    /// Runs `body` with a client connected to a hand-played server (hellos exchanged).
    func withPeer(_ body: @Sendable (IPCClient, RawSocket) async throws -> Void) async throws {
        let listener = try RawListener(path: temporarySocketPath("upload"))
        let client = IPCClient(configuration: .init(path: listener.path, service: "test", clientName: "tester"), logger: testLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let peer = try await listener.accept()
            _ = try await peer.receive() // the client's hello
            try peer.sendHello(service: "test")
            try await body(client, peer)
        }
    }

    static func pong(_ text: String) -> IPCBody { .pong(.with { $0.payload = Data(text.utf8) }) }

    @Test("a body smaller than a chunk goes out with the end of the stream in one write, at finish")
    func smallBodyAtFinish() async throws {
        try await withPeer { client, peer in
            let upload = try await client.upload(Self.pong("submit"))
            let request = try #require(try await peer.receive())
            #expect(request.streamFollows)
            try await upload.send(ByteBuffer(string: "Received: from x\r\n"))
            try await upload.send(ByteBuffer(string: "Subject: y\r\n\r\nbody\r\n"))
            #expect(peer.waiting == 0, "nothing written before the end")
            async let answer = upload.finish()
            let frames = try RawSocket.frames(try await peer.readOnce())
            #expect(frames.count == 2, "the body's chunk and the end in one read")
            guard frames.count == 2, case let .chunk(data)? = frames[0].body, case let .chunk(last)? = frames[1].body else {
                Issue.record("frames: \(frames)")
                return
            }
            #expect(String(decoding: data.data, as: UTF8.self) == "Received: from x\r\nSubject: y\r\n\r\nbody\r\n" && !data.last)
            #expect(last.last && last.data.isEmpty)
            try peer.send(IPCEnvelope(id: request.requestID, body: Self.pong("accepted")))
            guard case let .pong(reply) = try await answer else { Issue.record("no pong"); return }
            #expect(reply.payload == Data("accepted".utf8))
        }
    }

    @Test("a larger body goes out in whole chunks as they fill; an aborted one is marked so and fails with its reason")
    func chunksAndAbort() async throws {
        struct Refused: Error {}
        try await withPeer { client, peer in
            let upload = try await client.upload(Self.pong("submit"))
            let request = try #require(try await peer.receive())
            try await upload.send(ByteBuffer(repeating: 0x61, count: IPCLimits.maxChunk + 10))
            let first = try #require(try await peer.receive())
            guard case let .chunk(chunk)? = first.body else { Issue.record("not a chunk: \(first)"); return }
            #expect(chunk.data.count == IPCLimits.maxChunk && first.requestID == request.requestID)
            await upload.abort(Refused())
            let abort = try #require(try await peer.receive())
            guard case let .chunk(marker)? = abort.body else { Issue.record("not a chunk: \(abort)"); return }
            #expect(marker.abort && marker.data.isEmpty, "the 10 octets held back are dropped, not sent")
            await #expect(throws: Refused.self) { try await upload.finish() }
        }
    }
}
