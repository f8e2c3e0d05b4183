import NIOCore
import NIOPosix
import SMTP
import Timing
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
    /// The idle pool this connection returns to: its address, host name and TLS policy.
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

    static func connect(host: String, address: String, port: Int, key: String, timeout: Duration,
                        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> SMTPClient {
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(timeout.timeAmount)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: address, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPReplyDecoder()))
                    try channel.pipeline.syncOperations.addHandler(STARTTLSHandler())
                    return try NIOAsyncChannel<SMTPReply, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try SMTPClient(channel: channel, relay: "\(host) [\(address)]", key: key)
    }

    /// The next reply, or a failure if none comes within `timeout` (the connection is closed).
    func reply(within timeout: Duration) async throws -> SMTPReply {
        let channel = self.channel.channel
        let task = channel.eventLoop.scheduleTask(in: timeout.timeAmount) {
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

    /// STARTTLS; on its 220, TLS in front of the reply decoder (by STARTTLSHandler, armed
    /// first) and the handshake with `setup`'s certificate checks, within `timeout`. Returns
    /// the reply to STARTTLS; throws `STARTTLSHandler.Failure` when TLS did not come up.
    func startTLS(_ setup: STARTTLSHandler.Setup, timeout: Duration) async throws -> SMTPReply {
        let channel = self.channel.channel
        let handshake = try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: STARTTLSHandler.self).arm(setup, eventLoop: channel.eventLoop)
        }.get()
        try await send("STARTTLS\r\n")
        let answer: SMTPReply
        do {
            answer = try await reply(within: timeout)
        } catch {
            // Plaintext read with the 220 ends here: the decoder refused it, the connection is
            // closed, and the handler has the reason (the handshake future is failed by then).
            do { try await handshake.get() } catch let failure as STARTTLSHandler.Failure { throw failure } catch {}
            throw STARTTLSHandler.Failure(description: "\(error)")
        }
        guard answer.code == 220 else { return answer }
        let deadline = channel.eventLoop.scheduleTask(in: timeout.timeAmount) { channel.close(promise: nil) }
        defer { deadline.cancel() }
        do {
            try await handshake.get()
        } catch let failure as STARTTLSHandler.Failure {
            throw failure
        } catch {
            throw STARTTLSHandler.Failure(description: "\(error)")
        }
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
