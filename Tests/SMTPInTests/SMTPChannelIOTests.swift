import NIOCore
import NIOEmbedded
import Listeners
import SMTPInService
import Testing

/// A session's reads and writes (`ChannelIO`, as smtp-in uses it) and its deadlines on a testing channel (its own event loop,
/// which the test's task is not on, as in the in-process server tests): a reply leaves at once
/// unless more pipelined input follows it, the socket is not read while input waits to be
/// taken, and closing sends what was written.
@Suite("smtp-in channel reads and writes")
struct SMTPChannelIOTests {
    /// Counts the reads that get past the IO handler (towards the socket).
    final class ReadCounter: ChannelOutboundHandler, @unchecked Sendable {
        typealias OutboundIn = NIOAny
        var reads = 0
        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    /// Takes writes and never completes them: a client that does not read.
    final class Swallow: ChannelOutboundHandler, @unchecked Sendable {
        typealias OutboundIn = NIOAny
        var promises: [EventLoopPromise<Void>] = []
        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if let promise { promises.append(promise) }
        }
        func flush(context: ChannelHandlerContext) {}
    }

    @Test("a deadline's farewell that cannot be sent does not keep the connection open")
    func farewellStuck() async throws {
        let channel = NIOAsyncTestingChannel()
        try await channel.connect(to: SocketAddress(ipAddress: "192.0.2.1", port: 25)).get()
        let swallow = Swallow()
        try await channel.testingEventLoop.executeInContext { try channel.pipeline.syncOperations.addHandler(swallow) }
        let deadline = ConnectionDeadline(channel: channel)
        deadline.arm(after: .seconds(1), farewell: "421 4.4.2 timeout\r\n")
        // (Plain Bools: a failed expectation on `channel` would print its pipeline, whose
        // description traps in NIO for this one.)
        await channel.testingEventLoop.advanceTime(by: .seconds(1))
        let waiting = channel.isActive
        #expect(waiting, "closed before the farewell had its time")
        await channel.testingEventLoop.advanceTime(by: .seconds(1))
        let open = channel.isActive
        #expect(!open, "a farewell the client never takes kept the connection open")
        try await channel.testingEventLoop.executeInContext { swallow.promises.forEach { $0.fail(ChannelError.ioOnClosedChannel) } }
    }

    /// A connected channel with the session's IO at the end of its pipeline, `first` before it.
    func connected(_ first: ReadCounter? = nil) async throws -> (NIOAsyncTestingChannel, ChannelIO<SMTPInput>) {
        let channel = NIOAsyncTestingChannel()
        try await channel.connect(to: SocketAddress(ipAddress: "192.0.2.1", port: 25)).get()
        let io = try await channel.testingEventLoop.executeInContext {
            if let first { try channel.pipeline.syncOperations.addHandler(first) }
            return try ChannelIO<SMTPInput>(synchronouslyOn: channel)
        }
        return (channel, io)
    }

    func outbound(_ channel: NIOAsyncTestingChannel) async throws -> [String] {
        var out: [String] = []
        while let buffer = try await channel.readOutbound(as: ByteBuffer.self) { out.append(String(buffer: buffer)) }
        return out
    }

    func reads(_ counter: ReadCounter, _ channel: NIOAsyncTestingChannel) async throws -> Int {
        try await channel.testingEventLoop.executeInContext { counter.reads }
    }

    @Test("a reply the client waits for goes out at once")
    func flushAlone() async throws {
        let (channel, io) = try await connected()
        try await io.write(ByteBuffer(string: "354 Enter mail\r\n"))
        #expect(try await outbound(channel) == ["354 Enter mail\r\n"])
        _ = try await channel.finish(acceptAlreadyClosed: true)
    }

    @Test("replies followed by more pipelined input leave together when the session next takes input")
    func flushOnRead() async throws {
        let (channel, io) = try await connected()
        try await io.write(ByteBuffer(string: "250 2.1.0 Sender ok\r\n"), flush: .later)
        try await io.write(ByteBuffer(string: "250 2.1.5 Recipient ok\r\n"), flush: .later)
        #expect(try await outbound(channel).isEmpty, "flushed while the group went on")
        try await channel.writeInbound(SMTPInput.commands(["DATA"]))
        #expect(try await io.next() == .commands(["DATA"]))
        #expect(try await outbound(channel) == ["250 2.1.0 Sender ok\r\n", "250 2.1.5 Recipient ok\r\n"])
        _ = try await channel.finish(acceptAlreadyClosed: true)
    }

    @Test("a reply is held while decoded input waits to be taken")
    func heldWhileInputWaits() async throws {
        let (channel, io) = try await connected()
        try await channel.writeInbound(SMTPInput.commands(["NOOP"]))
        try await channel.writeInbound(SMTPInput.commands(["NOOP"]))
        #expect(try await io.next() == .commands(["NOOP"]))
        try await io.write(ByteBuffer(string: "250 2.0.0 OK\r\n"), flush: .unlessInputWaits)
        #expect(try await outbound(channel).isEmpty, "flushed while the next command waited")
        #expect(try await io.next() == .commands(["NOOP"]))
        try await io.write(ByteBuffer(string: "250 2.0.0 OK\r\n"), flush: .unlessInputWaits)
        #expect(try await outbound(channel) == ["250 2.0.0 OK\r\n", "250 2.0.0 OK\r\n"])
        _ = try await channel.finish(acceptAlreadyClosed: true)
    }

    @Test("no read reaches the socket while decoded input waits to be taken")
    func readsHeld() async throws {
        let counter = ReadCounter()
        let (channel, io) = try await connected(counter)
        channel.read()
        #expect(try await reads(counter, channel) == 1)
        try await channel.writeInbound(SMTPInput.commands(["NOOP"]))
        try await channel.writeInbound(SMTPInput.commands(["QUIT"]))
        channel.read()
        #expect(try await reads(counter, channel) == 1, "read while two inputs waited")
        #expect(try await io.next() == .commands(["NOOP"]))
        #expect(try await reads(counter, channel) == 1, "read while one input waited")
        #expect(try await io.next() == .commands(["QUIT"]))
        #expect(try await reads(counter, channel) == 2, "the held read was not let through once everything was taken")
        _ = try await channel.finish(acceptAlreadyClosed: true)
    }

    @Test("closing sends what was written; input then ends and writes fail")
    func closeFlushes() async throws {
        let (channel, io) = try await connected()
        try await channel.writeInbound(SMTPInput.commands(["QUIT"]))
        try await io.write(ByteBuffer(string: "221 2.0.0 closing connection\r\n"), flush: .later)
        await io.close()
        #expect(try await outbound(channel) == ["221 2.0.0 closing connection\r\n"])
        #expect(try await io.next() == .commands(["QUIT"]), "input read before the close is still taken")
        #expect(try await io.next() == nil)
        await #expect(throws: ChannelError.self) { try await io.write(ByteBuffer(string: "250 late\r\n")) }
    }

    @Test("an error in the pipeline ends input with that error; an answer can still be written before closing")
    func errorEnds() async throws {
        struct Broken: Error {}
        let (channel, io) = try await connected()
        channel.pipeline.fireErrorCaught(Broken())
        await #expect(throws: Broken.self) { try await io.next() }
        try await io.write(ByteBuffer(string: "421 4.3.0 error\r\n"))
        await io.close()
        #expect(try await outbound(channel) == ["421 4.3.0 error\r\n"])
        #expect(!channel.isActive)
    }

    @Test("a task cancelled while it waits for input closes the connection", .timeLimit(.minutes(1)))
    func cancelled() async throws {
        let (channel, io) = try await connected()
        let reader = Task { try await io.next() }
        reader.cancel()
        #expect(try await reader.value == nil)
        #expect(!channel.isActive)
    }
}
