import NIOCore
import NIOPosix
import NIOSSL
import TestSupport

/// A small SMTP server on loopback for what smtp-sink cannot do: STARTTLS with a given
/// certificate, a scripted (hostile) answer to STARTTLS, a greeting that differs from the EHLO
/// name. It records every command line, marked when it came over TLS, and every message.
final class ScriptedSMTPServer: Sendable {
    struct Script: Sendable {
        /// The name in the greeting, and in EHLO unless `ehloName` is set.
        var name = "mx.test"
        var ehloName: String?
        var extensions = ["PIPELINING", "8BITMIME", "DSN", "ENHANCEDSTATUSCODES"]
        /// STARTTLS is offered (before TLS) when set.
        var tls: NIOSSLContext?
        /// Written in one write in answer to STARTTLS, after which TLS starts.
        var startTLSReply = "220 2.0.0 Ready to start TLS\r\n"
    }

    struct Transcript: Sendable {
        /// Command lines as received, "TLS " in front of those read over TLS.
        var commands: [String] = []
        /// Each message's data lines.
        var messages: [[String]] = []
    }

    let port: Int
    private let channel: Channel
    private let recorded = Locked(Transcript())

    var transcript: Transcript { recorded.withLock { $0 } }

    init(_ script: Script) async throws {
        let recorded = self.recorded
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Session(script: script) { event in
                        recorded.withLock { event(&$0) }
                    })
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress?.port ?? 0
    }

    func stop() async {
        try? await channel.close()
    }

    /// One connection, a line at a time; replies written as each line is read.
    final class Session: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let script: Script
        let record: (_ event: (inout Transcript) -> Void) -> Void
        var input = ByteBuffer()
        var tls = false
        var data: [String]?

        init(script: Script, record: @escaping (_ event: (inout Transcript) -> Void) -> Void) {
            self.script = script
            self.record = record
        }

        func channelActive(context: ChannelHandlerContext) {
            write(context, "220 \(script.name) ESMTP scripted\r\n")
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            input.writeBuffer(&bytes)
            while let crlf = input.readableBytesView.firstIndex(of: 0x0A) {
                let line = String(buffer: input.readSlice(length: crlf - input.readerIndex + 1)!)
                    .trimmingSuffix { $0 == "\r\n" || $0 == "\n" || $0 == "\r" }
                handle(line, context: context)
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            context.close(promise: nil)
        }

        func handle(_ line: String, context: ChannelHandlerContext) {
            if var lines = data {
                if line == "." {
                    self.data = nil
                    record { $0.messages.append(lines) }
                    write(context, "250 2.0.0 Ok: queued\r\n")
                } else {
                    lines.append(line)
                    self.data = lines
                }
                return
            }
            record { [tls] in $0.commands.append((tls ? "TLS " : "") + line) }
            switch line.prefix(while: { $0 != " " }).uppercased() {
            case "EHLO":
                var lines = ["\(script.ehloName ?? script.name) hello"] + script.extensions
                if script.tls != nil && !tls { lines.append("STARTTLS") }
                write(context, lines.enumerated().map { "250\($0.offset == lines.count - 1 ? " " : "-")\($0.element)\r\n" }.joined())
            case "HELO": write(context, "250 \(script.ehloName ?? script.name)\r\n")
            case "STARTTLS":
                guard let tlsContext = script.tls, !tls else { return write(context, "454 4.7.0 TLS not available\r\n") }
                write(context, script.startTLSReply)
                input.clear() // plaintext pipelined behind STARTTLS is dropped (RFC 3207)
                tls = true
                try? context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tlsContext), position: .first)
            case "MAIL", "RCPT", "RSET", "NOOP": write(context, "250 2.0.0 Ok\r\n")
            case "DATA":
                data = []
                write(context, "354 End data with <CR><LF>.<CR><LF>\r\n")
            case "QUIT":
                write(context, "221 2.0.0 Bye\r\n")
                context.close(promise: nil)
            default: write(context, "502 5.5.2 Error: command not recognized\r\n")
            }
        }

        func write(_ context: ChannelHandlerContext, _ text: String) {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
        }
    }
}

extension String {
    func trimmingSuffix(while drop: (Character) -> Bool) -> String {
        var out = self
        while let last = out.last, drop(last) { out.removeLast() }
        return out
    }
}
