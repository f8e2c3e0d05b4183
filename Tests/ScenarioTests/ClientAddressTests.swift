import Listeners
import NIOCore
import Testing

@Suite("client addresses on dual-stack sockets")
struct ClientAddressTests {
    @Test("an IPv4 client on [::] is judged and logged as a.b.c.d; real IPv6 addresses stay as they are")
    func unmapped() throws {
        #expect(SocketAddress.unmapped("::ffff:127.0.0.2") == "127.0.0.2")
        #expect(SocketAddress.unmapped("::FFFF:4.29.156.10") == "4.29.156.10")
        #expect(SocketAddress.unmapped("::1") == "::1")
        #expect(SocketAddress.unmapped("2001:db8::ffff:1.2.3.4") == "2001:db8::ffff:1.2.3.4")
        #expect(SocketAddress.unmapped("::ffff:1.2.3") == "::ffff:1.2.3")
        #expect(SocketAddress.unmapped("::ffff:7f00:2") == "::ffff:7f00:2")
        let mapped = try SocketAddress(ipAddress: "::ffff:127.0.0.2", port: 25)
        #expect(mapped.clientAddress == "127.0.0.2")
    }
}
