import NIOCore
import NIOEmbedded
@testable import Listeners
import Testing

/// `ConnectionDeadline` on a testing event loop (virtual time): one timer per connection that
/// follows the deadline armed last, instead of one scheduled and cancelled per command.
@Suite("connection deadlines")
struct ConnectionDeadlineTests {
    func connected() async throws -> NIOAsyncTestingChannel {
        let channel = NIOAsyncTestingChannel()
        try await channel.connect(to: SocketAddress(ipAddress: "192.0.2.1", port: 25)).get()
        return channel
    }

    func farewells(_ channel: NIOAsyncTestingChannel) async throws -> [String] {
        var out: [String] = []
        while let buffer = try await channel.readOutbound(as: ByteBuffer.self) { out.append(String(buffer: buffer)) }
        return out
    }

    @Test("re-armed before it expires, the deadline counts from the last arm: the first timer moves, it does not close")
    func rearmed() async throws {
        let channel = try await connected()
        let deadline = ConnectionDeadline(channel: channel)
        deadline.arm(after: .seconds(10), farewell: "421 timeout\r\n")
        await channel.testingEventLoop.advanceTime(by: .seconds(6))
        deadline.disarm()
        deadline.arm(after: .seconds(10), farewell: "421 timeout\r\n") // due at 16 s
        await channel.testingEventLoop.advanceTime(by: .seconds(9))  // 15 s: the first timer fired at 10 and moved
        #expect(channel.isActive)
        #expect(try await farewells(channel).isEmpty)
        await channel.testingEventLoop.advanceTime(by: .seconds(1))  // 16 s
        #expect(try await farewells(channel) == ["421 timeout\r\n"])
        #expect(!channel.isActive)
    }

    @Test("disarmed, nothing happens when the timer fires, and the next arm schedules again")
    func disarmed() async throws {
        let channel = try await connected()
        let deadline = ConnectionDeadline(channel: channel)
        deadline.arm(after: .seconds(5), farewell: nil)
        deadline.disarm()
        await channel.testingEventLoop.advanceTime(by: .seconds(60))
        #expect(channel.isActive)
        #expect(!deadline.scheduled)
        deadline.arm(after: .seconds(5), farewell: nil)
        #expect(deadline.scheduled)
        await channel.testingEventLoop.advanceTime(by: .seconds(5))
        #expect(!channel.isActive)
    }

    @Test("a shorter timeout armed after a longer one closes at its own time")
    func shorter() async throws {
        let channel = try await connected()
        let deadline = ConnectionDeadline(channel: channel)
        deadline.arm(after: .seconds(300), farewell: "421 idle\r\n")
        deadline.disarm()
        deadline.arm(after: .seconds(2), farewell: "421 login\r\n")
        await channel.testingEventLoop.advanceTime(by: .seconds(2))
        #expect(try await farewells(channel) == ["421 login\r\n"])
        #expect(!channel.isActive)
    }

    @Test("a closed connection keeps no timer, and arming it schedules none")
    func closed() async throws {
        let channel = try await connected()
        let deadline = ConnectionDeadline(channel: channel)
        deadline.arm(after: .seconds(300), farewell: nil)
        #expect(deadline.scheduled)
        try await channel.close()
        #expect(!deadline.scheduled)
        deadline.arm(after: .seconds(1), farewell: nil)
        #expect(!deadline.scheduled)
    }
}
