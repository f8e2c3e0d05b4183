import NIOCore
import Synchronization

/// One POP3 command line, or the news that a line was too long (its octets were discarded
/// up to the next LF).
public enum POP3Line: Sendable, Equatable {
    case line(String)
    case tooLong
    /// A CR inside the line (not before its LF): refused, never handed on as text (it would
    /// reach replies and logs as a line break).
    case bareCR
}

/// Splits input at LF (a CR before it is dropped), refusing lines over `maxLine` octets
/// (CRLF included) without buffering them, and lines with a CR anywhere else.
///
/// After a line that is STLS (as `POP3Command.parse` reads it: one definition for the decoder
/// and the session), everything else is discarded until the session has either
/// started TLS or refused it (`POP3TLSGate`): plaintext a client (or an attacker in the middle)
/// pipelined behind STLS never reaches the session (RFC 2595 section 3.1; CVE-2011-0411's class).
public struct POP3LineDecoder: ByteToMessageDecoder {
    public typealias InboundOut = POP3Line
    let maxLine: Int
    let gate: POP3TLSGate?
    var discarding = false

    public init(maxLine: Int = POP3Command.maxLine, gate: POP3TLSGate? = nil) {
        self.maxLine = maxLine
        self.gate = gate
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if let gate, gate.isClosed {
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            return .needMoreData
        }
        guard let lf = buffer.readableBytesView.firstIndex(of: 10) else {
            if buffer.readableBytes > maxLine {
                buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                if !discarding { context.fireChannelRead(Self.wrapInboundOut(.tooLong)) }
                discarding = true
            }
            return .needMoreData
        }
        let length = lf - buffer.readerIndex
        var line = buffer.readSlice(length: length)!
        buffer.moveReaderIndex(forwardBy: 1)
        if discarding {
            discarding = false
            return .continue
        }
        guard length + 1 <= maxLine else {
            context.fireChannelRead(Self.wrapInboundOut(.tooLong))
            return .continue
        }
        if line.readableBytes > 0, line.getInteger(at: line.writerIndex - 1, as: UInt8.self) == 13 {
            line.moveWriterIndex(to: line.writerIndex - 1)
        }
        if line.readableBytesView.contains(13) {
            context.fireChannelRead(Self.wrapInboundOut(.bareCR))
            return .continue
        }
        let text = String(buffer: line)
        // The session's own parser decides what STLS is ("STLS " with a trailing space is STLS
        // to it, so it must close the gate here too).
        if let gate, case .stls? = try? POP3Command.parse(text) {
            gate.close()
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        }
        context.fireChannelRead(Self.wrapInboundOut(.line(text)))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes) // an unterminated last line is dropped
        return .needMoreData
    }
}

/// Shut by the decoder at STLS, opened by the session once TLS is in place (or refused).
public final class POP3TLSGate: Sendable {
    private let closed = Atomic<Bool>(false)
    public init() {}
    public var isClosed: Bool { closed.load(ordering: .acquiring) }
    func close() { closed.store(true, ordering: .releasing) }
    public func open() { closed.store(false, ordering: .releasing) }
}
