import NIOCore
import NIOSSL
import NIOTLS
import SMTP

/// Starts TLS at the exact point RFC 3207 puts the boundary. It sits after the reply decoder;
/// armed before STARTTLS is sent, it puts TLS in front of the whole pipeline while the 220 is
/// being delivered, in the same event-loop turn, so no octet read afterwards can reach the
/// decoder without passing through TLS. (Octets read together with the 220 are refused by
/// `SMTPReplyDecoder`.) The arming future tells the client how the handshake and the
/// certificate checks ended, so a failure is reported as TLS's, not as a lost connection.
final class STARTTLSHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = SMTPReply
    typealias InboundOut = SMTPReply

    /// The TLS to start when the 220 comes.
    struct Setup {
        var context: NIOSSLContext
        /// SNI and the name the certificate must carry (when the context checks names).
        var serverName: String?
        /// When set, the leaf certificate must match one of these instead of any other check.
        var pins: CertificatePins?
    }

    /// The server did not answer STARTTLS with 220: the connection stays in plaintext.
    struct NotStarted: Error {}

    /// TLS could not be established, or its checks failed.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    enum State {
        case plaintext
        case armed(Setup, EventLoopPromise<Void>)
        case handshaking(EventLoopPromise<Void>, serverName: String?)
        case secured

        var serverName: String? {
            if case let .handshaking(_, name) = self { return name }
            return nil
        }
    }

    private var state = State.plaintext
    /// Why the pin check refused the certificate (BoringSSL's own error only says it failed).
    private var pinRefusal: String?

    /// Before STARTTLS is written. The future succeeds once the handshake and the certificate
    /// checks are done, fails with `NotStarted` for a reply other than 220, and with `Failure`
    /// for anything else.
    func arm(_ setup: Setup, eventLoop: EventLoop) -> EventLoopFuture<Void> {
        precondition(eventLoop.inEventLoop, "armed on the channel's event loop")
        guard case .plaintext = state else {
            return eventLoop.makeFailedFuture(Failure(description: "STARTTLS issued twice"))
        }
        let promise = eventLoop.makePromise(of: Void.self)
        state = .armed(setup, promise)
        return promise.futureResult
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case let .armed(setup, promise):
            guard unwrapInboundIn(data).code == 220 else {
                state = .plaintext
                promise.fail(NotStarted())
                break
            }
            do {
                try context.pipeline.syncOperations.addHandler(try tlsHandler(setup), position: .first)
                state = .handshaking(promise, serverName: setup.serverName)
            } catch {
                fail(context: context, Failure(description: "cannot start TLS: \(error)"))
                return
            }
            // The read-complete of this read now stops in TLS (it passes on only what it
            // decrypted), and NIOAsyncChannel hands reads over at read-complete: give it one.
            context.fireChannelRead(data)
            context.fireChannelReadComplete()
            return
        case .handshaking:
            // The decoder refuses plaintext read with the 220 and TLS carries the rest, so this
            // cannot happen; if it ever did, the reply must not count.
            fail(context: context, Failure(description: "a reply arrived before the TLS handshake ended"))
            return
        case .plaintext, .secured:
            break
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case let .handshaking(promise, _) = state, let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
            state = .secured
            promise.succeed()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        switch state {
        case .armed, .handshaking:
            fail(context: context, Failure(description: pinRefusal ?? Self.words(for: error, serverName: state.serverName)))
        case .plaintext, .secured:
            break
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(context: context, Failure(description: "connection closed before TLS was established"))
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        fail(context: context, Failure(description: "connection closed before TLS was established"))
    }

    /// Ends an armed or handshaking state with `failure` and drops the connection.
    private func fail(context: ChannelHandlerContext, _ failure: Failure) {
        let promise: EventLoopPromise<Void>
        switch state {
        case let .armed(_, armed): promise = armed
        case let .handshaking(handshaking, _): promise = handshaking
        case .plaintext, .secured: return
        }
        state = .plaintext
        promise.fail(failure)
        context.close(promise: nil)
    }

    /// What went wrong, in words an administrator reads in the log and a sender in the DSN
    /// (BoringSSL's own error names the failed check only as CERTIFICATE_VERIFY_FAILED).
    static func words(for error: Error, serverName: String?) -> String {
        let text = "\(error)"
        if error is NIOSSLExtraError && text.contains("failedToValidateHostname") {
            return "the certificate does not name \(serverName ?? "the server's address")"
        }
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return "the certificate is not trusted (no chain to a trusted root, or expired): CERTIFICATE_VERIFY_FAILED"
        }
        return text
    }

    private func tlsHandler(_ setup: Setup) throws -> NIOSSLClientHandler {
        guard let pins = setup.pins else {
            return try NIOSSLClientHandler(context: setup.context, serverHostname: setup.serverName)
        }
        // Called on the event loop during the handshake, with the chain as the server sent it.
        return try NIOSSLClientHandler(context: setup.context, serverHostname: setup.serverName,
                                       customVerificationCallback: { [weak self] certificates, verdict in
            let fingerprint = certificates.first.flatMap { try? CertificatePins.fingerprint(of: $0) }
            if let fingerprint, pins.fingerprints.contains(fingerprint) {
                verdict.succeed(.certificateVerified)
            } else {
                self?.pinRefusal = "certificate sha256:\(fingerprint ?? "(none)") matches no pinned fingerprint"
                verdict.succeed(.failed)
            }
        })
    }
}
