import Listeners
import NIOCore
import NIOSSL
import Synchronization

/// What a session does to its channel outside plain reads and writes: deadlines that close the
/// connection (a client trickling octets cannot stretch them: they run from the moment the
/// session starts waiting, not from the last octet), switching the decoder's mode, STARTTLS.
final class SMTPConnection: Sendable {
    let channel: Channel
    let mode: SMTPInputMode
    let tlsContext: NIOSSLContext?
    let deadline: ConnectionDeadline

    init(channel: Channel, mode: SMTPInputMode, tlsContext: NIOSSLContext?) {
        self.channel = channel
        self.deadline = ConnectionDeadline(channel: channel)
        self.mode = mode
        self.tlsContext = tlsContext
    }

    /// After `timeout`, `reply` is written and the connection closed, unless disarmed first.
    func arm(after timeout: Duration, reply: String) {
        deadline.arm(after: timeout, farewell: reply)
    }

    func disarm() {
        deadline.disarm()
    }

    /// Switches the decoder out of its hold (after DATA or a refused STARTTLS), has it decode
    /// what is buffered and lets the socket be read again (see `SMTPReadGate`).
    func resume(_ next: SMTPInputMode.Mode) {
        mode.set(next)
        let channel = self.channel
        channel.eventLoop.execute {
            SMTPReadGate.release(channel)
        }
    }

    /// In one event-loop turn: the 220 goes out in plaintext, TLS goes in front of everything
    /// read from now on, and the decoder starts again. What the client pipelined behind
    /// STARTTLS was already dropped by the decoder.
    func startTLS(reply: String) async throws {
        guard let context = tlsContext else { return }
        let channel = self.channel
        let mode = self.mode
        try await channel.eventLoop.submit {
            channel.writeAndFlush(channel.allocator.buffer(string: reply), promise: nil)
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context), position: .first)
            mode.set(.command)
            SMTPReadGate.release(channel)
        }.get()
    }

    /// "TLSv1.3" and the like, once the handshake is done.
    func tlsVersion() async -> String? {
        guard let version = try? await channel.nioSSL_tlsVersion().get() else { return nil }
        switch version {
        case .tlsv13: return "TLSv1.3"
        case .tlsv12: return "TLSv1.2"
        case .tlsv11: return "TLSv1.1"
        case .tlsv1: return "TLSv1"
        }
    }
}

/// Sits just before the input decoder. While the decoder holds input (after DATA until the 354
/// is out, after STARTTLS until TLS is in place) it stops reading from the socket, so what a
/// client pipelines past those commands waits in its own buffers (TCP flow control), never in
/// ours. On release it lets a read through again and has the decoder look at what it holds: an
/// empty read passed from here (below TLS, so the TLS handler never sees it).
final class SMTPReadGate: ChannelDuplexHandler {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny
    let mode: SMTPInputMode
    var readPending = false

    init(mode: SMTPInputMode) {
        self.mode = mode
    }

    func read(context: ChannelHandlerContext) {
        switch mode.mode {
        case .held, .awaitingTLS: readPending = true
        case .command, .data, .discard: context.read()
        }
    }

    /// On the channel's event loop, after the mode changed.
    static func release(_ channel: Channel) {
        let pipeline = channel.pipeline.syncOperations
        guard let gate = try? pipeline.handler(type: SMTPReadGate.self),
              let context = try? pipeline.context(handlerType: SMTPReadGate.self) else { return }
        context.fireChannelRead(NIOAny(channel.allocator.buffer(capacity: 0)))
        // As a socket read ends: the decoder and the handlers after it see a whole read.
        context.fireChannelReadComplete()
        if gate.readPending {
            gate.readPending = false
            context.read()
        }
    }
}
