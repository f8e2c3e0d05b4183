import Foundation
import IPC
@testable import IPCTransport
import NIOCore
import Synchronization
import Testing

/// The pipe between an IPC connection's reader and a request's handler (`BodyPipe`), and what a
/// handler sees of a body its sender never finished.
@Suite("IPC body streams")
struct IPCBodyStreamTests {
    static func chunk(_ count: Int, _ byte: UInt8 = 0x61) -> ByteBuffer { ByteBuffer(repeating: byte, count: count) }

    @Test("a small body and its end are put in before the handler reads: the reader does not wait for the handler")
    func smallBodyWithoutHandler() async throws {
        let pipe = BodyPipe()
        // A rendezvous channel would hold this send until a handler took the chunk: none does yet.
        await pipe.send(Self.chunk(2048))
        await pipe.send(Self.chunk(100, 0x62))
        pipe.finish()
        let stream = IPCBodyStream(pipe: pipe)
        var sizes: [Int] = []
        for try await chunk in stream { sizes.append(chunk.readableBytes) }
        #expect(sizes == [2048, 100])
    }

    @Test("past the hold limit the reader waits until the handler has taken what waits")
    func backPressure() async throws {
        let pipe = BodyPipe()
        await pipe.send(Self.chunk(BodyPipe.holdLimit))
        let sent = Mutex(false)
        let sender = Task {
            await pipe.send(Self.chunk(1))
            sent.withLock { $0 = true }
        }
        while !pipe.senderWaits { await Task.yield() }
        #expect(!sent.withLock { $0 })
        var iterator = IPCBodyStream(pipe: pipe).makeAsyncIterator()
        #expect(try await iterator.next()?.readableBytes == BodyPipe.holdLimit)
        await sender.value
        #expect(sent.withLock { $0 })
        #expect(try await iterator.next()?.readableBytes == 1)
    }

    @Test("a body cut short: the chunks before, then the error, never an end")
    func failed() async throws {
        let pipe = BodyPipe()
        await pipe.send(Self.chunk(10))
        pipe.fail(IPCError.streamAborted)
        var iterator = IPCBodyStream(pipe: pipe).makeAsyncIterator()
        #expect(try await iterator.next()?.readableBytes == 10)
        await #expect(throws: IPCError.self) { _ = try await iterator.next() }
    }

    @Test("a handler cancelled while it waits gets CancellationError, not the end of the body")
    func cancelledHandler() async throws {
        let pipe = BodyPipe()
        await pipe.send(Self.chunk(10))
        let handler = Task { () -> String in
            var iterator = IPCBodyStream(pipe: pipe).makeAsyncIterator()
            _ = try await iterator.next()
            do {
                return try await iterator.next() == nil ? "end" : "chunk"
            } catch {
                return "\(type(of: error))"
            }
        }
        while !pipe.readerWaits { await Task.yield() }
        handler.cancel()
        #expect(try await handler.value == "CancellationError")
    }

    @Test("a handler that has answered drops what still comes, and a waiting reader goes on")
    func closedByHandler() async throws {
        let pipe = BodyPipe()
        await pipe.send(Self.chunk(BodyPipe.holdLimit))
        let sender = Task { await pipe.send(Self.chunk(1)) }
        while !pipe.senderWaits { await Task.yield() }
        pipe.close()
        await sender.value
        await pipe.send(Self.chunk(BodyPipe.holdLimit * 4))
        #expect(pipe.held == 0)
    }

    /// Records how each handler's read of its stream ended.
    final class Outcomes: IPCRequestHandler {
        let stream: AsyncStream<String>
        let continuation: AsyncStream<String>.Continuation

        init() { (stream, continuation) = AsyncStream.makeStream() }

        func handle(_ request: IPCRequest, stream: IPCBodyStream?) async throws -> IPCBody {
            var octets = 0
            do {
                for try await chunk in stream! { octets += chunk.readableBytes }
                continuation.yield("whole body of \(octets) octets")
            } catch {
                continuation.yield("cut short after \(octets) octets")
                throw error
            }
            return .pong(Mailstack_Ipc_Pong())
        }
    }

    @Test("a peer that closes its connection in the middle of a body: the handler's read fails, the partial body is never taken as whole")
    func connectionClosedMidBody() async throws {
        let path = temporarySocketPath("cut")
        let server = try await IPCServer.bind(.path(path), configuration: .init(service: "test"), logger: testLogger)
        defer { unlink(path) }
        let outcomes = Outcomes()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve(outcomes) }
            defer { group.cancelAll() }
            var raw: RawSocket? = try RawSocket(path: path)
            try raw!.sendHello()
            _ = try await raw!.receive()
            try raw!.send(IPCEnvelope(id: 1, body: .pong(Mailstack_Ipc_Pong()), streamFollows: true))
            var chunk = Mailstack_Ipc_StreamChunk()
            chunk.data = Data(repeating: 0x61, count: 500)
            try raw!.send(IPCEnvelope(id: 1, body: .chunk(chunk)))
            raw = nil  // closes the socket before the last chunk
            var outcome = outcomes.stream.makeAsyncIterator()
            #expect(await outcome.next() == "cut short after 500 octets")
        }
    }
}
