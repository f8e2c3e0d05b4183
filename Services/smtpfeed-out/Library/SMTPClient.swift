import NIOCore
import NIOPosix
import NIOSSL
import SMTP
import Synchronization

/// One ESMTP client connection: replies are read with a deadline per step (RFC 5321 4.5.3.2),
/// EHLO with fallback to HELO, the server's extensions remembered, STARTTLS.
final class SMTPClient: @unchecked Sendable {
    // Used by one delivery at a time.
    let channel: NIOAsyncChannel<SMTPReply, ByteBuffer>
    var replies: NIOAsyncChannelInboundStream<SMTPReply>.AsyncIterator
    let writer: NIOAsyncChannelOutboundWriter<ByteBuffer>
    /// "mx.example.net [192.0.2.1]", for logs and DSNs.
    let relay: String
    let key: String
    private(set) var extensions: [String: String] = [:]
    private(set) var tls = false
    private let deadline = Mutex<Scheduled<Void>?>(nil)
    var lastUsed = ContinuousClock.now

    struct Failure: Error, CustomStringConvertible {
        var description: String
        var reply: SMTPReply?
    }

    private init(channel: NIOAsyncChannel<SMTPReply, ByteBuffer>, relay: String, key: String) throws {
        self.channel = channel
        // The connection outlives any one scope (it is reused for further messages), so it is
        // used through inbound/outbound rather than executeThenClose.
        replies = channel.inbound.makeAsyncIterator()
        writer = channel.outbound
        self.relay = relay
        self.key = key
    }

    static func connect(host: String, address: String, port: Int, timeout: Duration,
                        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> SMTPClient {
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: address, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPReplyDecoder()))
                    return try NIOAsyncChannel<SMTPReply, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try SMTPClient(channel: channel, relay: "\(host) [\(address)]", key: "\(address):\(port)")
    }

    /// The next reply, or a failure if none comes within `timeout` (the connection is closed).
    func reply(within timeout: Duration) async throws -> SMTPReply {
        let channel = self.channel.channel
        let task = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000
                                                     + timeout.components.attoseconds / 1_000_000_000)) {
            channel.close(promise: nil)
        }
        defer { task.cancel() }
        do {
            guard let reply = try await replies.next() else {
                throw Failure(description: "\(relay) closed the connection")
            }
            return reply
        } catch let error as Failure {
            throw error
        } catch {
            throw Failure(description: "\(relay): \(error)")
        }
    }

    func send(_ text: String) async throws {
        try await writer.write(ByteBuffer(string: text))
    }

    func send(_ buffer: ByteBuffer) async throws {
        try await writer.write(buffer)
    }

    /// EHLO (HELO if the server refuses EHLO with a 5xx); returns the reply that counts.
    func hello(_ name: String, timeout: Duration) async throws -> SMTPReply {
        try await send("EHLO \(name)\r\n")
        let ehlo = try await reply(within: timeout)
        if ehlo.code == 250 {
            extensions = [:]
            for line in ehlo.lines.dropFirst() {
                let words = line.split(separator: " ", maxSplits: 1)
                guard let keyword = words.first else { continue }
                extensions[keyword.uppercased()] = words.count > 1 ? String(words[1]) : ""
            }
            return ehlo
        }
        guard ehlo.code >= 500 else { return ehlo }
        try await send("HELO \(name)\r\n")
        extensions = [:]
        return try await reply(within: timeout)
    }

    func offers(_ keyword: String) -> Bool { extensions[keyword] != nil }

    /// STARTTLS, then TLS in front of the reply decoder (certificates are not verified: the
    /// opportunistic TLS of RFC 3207 that MTAs use between each other).
    func startTLS(serverName: String, timeout: Duration) async throws -> SMTPReply {
        try await send("STARTTLS\r\n")
        let answer = try await reply(within: timeout)
        guard answer.code == 220 else { return answer }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        let context = try NIOSSLContext(configuration: configuration)
        let channel = self.channel.channel
        let name = serverName.allSatisfy { $0.isNumber || $0 == "." || $0 == ":" } ? nil : serverName
        try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: name), position: .first)
        }.get()
        tls = true
        return answer
    }

    func close() async {
        writer.finish()
        try? await channel.channel.close()
    }

    deinit {
        // NIO requires the writer finished; closing the channel goes with it.
        writer.finish()
        channel.channel.close(promise: nil)
    }
}
