import NIOCore
import NIOEmbedded
import NIOSSL
import SMTP
import Testing
import TestSupport
@testable import SMTPFeedService

/// The STARTTLS boundary at the byte level (CVE-2021-38371 class): nothing a server sends in
/// plaintext after its 220 to STARTTLS may be read as a reply, however the octets are cut.
@Suite("smtpfeed-out: the STARTTLS boundary")
struct STARTTLSBoundaryTests {
    static let greeting = "220 mx.test ESMTP\r\n"

    /// The reply decoder alone, greeted, then fed `segments` one write each: the replies it
    /// produced, and whether it refused the input.
    func decode(_ segments: [String]) -> (replies: [SMTPReply], refused: Bool) {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(SMTPReplyDecoder()))
        var refused = false
        for segment in [Self.greeting] + segments {
            do { try channel.writeInbound(ByteBuffer(string: segment)) } catch { refused = true }
        }
        var replies: [SMTPReply] = []
        while let reply = try? channel.readInbound(as: SMTPReply.self) { replies.append(reply) }
        return (replies, refused)
    }

    @Test("a fake reply in the 220's segment, whole or cut anywhere, is refused, never decoded",
          arguments: [
              ["220 go ahead\r\n250 fake\r\n"],
              ["220 go ahead\r\n250 fa"],
              ["220 go ahead\r\n2"],
              ["220 go a", "head\r\n250 fake\r\n"],
              ["220 go ahead\r", "\n250 fake\r\n"],
              ["220-go\r\n220 ahead\r\n250 fake\r\n"],
          ])
    func refused(segments: [String]) {
        let (replies, refused) = decode(segments)
        #expect(refused)
        #expect(replies.map(\.code) == [220], "only the greeting: \(replies)")
    }

    @Test("the 220 alone is decoded; after the greeting, pipelined replies are still fine")
    func accepted() {
        let alone = decode(["220 go ahead\r\n"])
        #expect(!alone.refused && alone.replies.map(\.code) == [220, 220])
        let pipelined = decode(["250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n"])
        #expect(!pipelined.refused && pipelined.replies.map(\.code) == [220, 250, 250, 354])
    }

    @Test("once the 220 is read, TLS is in front of the decoder in the same turn: a later plaintext segment goes to TLS, not to the decoder")
    func laterSegmentGoesToTLS() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPReplyDecoder()))
        try channel.pipeline.syncOperations.addHandler(STARTTLSHandler())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 25)).wait()
        try channel.writeInbound(ByteBuffer(string: Self.greeting))
        #expect(try channel.readInbound(as: SMTPReply.self)?.code == 220)

        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        let setup = STARTTLSHandler.Setup(context: try NIOSSLContext(configuration: configuration), serverName: "mx.test", pins: nil)
        let handshake = try channel.pipeline.syncOperations.handler(type: STARTTLSHandler.self).arm(setup, eventLoop: channel.eventLoop)
        try channel.writeInbound(ByteBuffer(string: "220 go ahead\r\n"))
        #expect(try channel.readInbound(as: SMTPReply.self)?.code == 220)
        #expect((try? channel.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)) != nil, "TLS installed")
        #expect(try channel.readOutbound(as: ByteBuffer.self).map { $0.readableBytes > 0 } == true, "the ClientHello went out")

        // The injected reply arrives in its own segment: TLS reads it as a broken record.
        #expect(throws: (any Error).self) { try channel.writeInbound(ByteBuffer(string: "250 fake\r\n")) }
        #expect(try channel.readInbound(as: SMTPReply.self) == nil)
        let failure = Locked<Error?>(nil)
        handshake.whenFailure { error in failure.withLock { $0 = error } }
        channel.embeddedEventLoop.run()
        #expect(failure.withLock { $0 } is STARTTLSHandler.Failure, "\(String(describing: failure.withLock { $0 }))")
        #expect(!channel.isActive, "the connection is dropped")
    }

    @Test("a refused STARTTLS (454) leaves the connection in plaintext")
    func refusedSTARTTLS() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPReplyDecoder()))
        try channel.pipeline.syncOperations.addHandler(STARTTLSHandler())
        try channel.writeInbound(ByteBuffer(string: Self.greeting))
        let setup = STARTTLSHandler.Setup(context: try NIOSSLContext(configuration: .makeClientConfiguration()), serverName: nil, pins: nil)
        let handshake = try channel.pipeline.syncOperations.handler(type: STARTTLSHandler.self).arm(setup, eventLoop: channel.eventLoop)
        try channel.writeInbound(ByteBuffer(string: "454 4.7.0 TLS not available\r\n250 2.0.0 Ok\r\n"))
        let failure = Locked<Error?>(nil)
        handshake.whenFailure { error in failure.withLock { $0 = error } }
        #expect(failure.withLock { $0 } is STARTTLSHandler.NotStarted)
        #expect((try? channel.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)) == nil)
        #expect(try channel.readInbound(as: SMTPReply.self)?.code == 220)
        #expect(try channel.readInbound(as: SMTPReply.self)?.code == 454)
        #expect(try channel.readInbound(as: SMTPReply.self)?.code == 250)
    }
}
