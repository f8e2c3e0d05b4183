#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import SMTP
import Synchronization

/// What smtp-in reads from a client.
public enum SMTPInput: Sendable, Equatable {
    /// The command lines that had arrived together (a pipelined group; often just one), each
    /// without its CRLF. A group ends after DATA or STARTTLS.
    case commands([String])
    /// A command line longer than the limit (its octets were discarded up to the next LF).
    case commandTooLong
    /// A bare LF or a bare CR: the connection is answered and closed (no SMTP smuggling).
    case bareNewline
    /// More than `SMTPInputDecoder.maxHeld` octets arrived while input was held after DATA: a
    /// client that does not wait for the 354 (RFC 2920 section 3.1). Answered and closed.
    case overflow
    /// Message octets, dot-unstuffed, CRLF line ends as received.
    case data(ByteBuffer)
    /// The CRLF.CRLF that ends the data; `lineTooLong` if a text line exceeded the limit.
    case dataEnd(lineTooLong: Bool)
}

/// What the decoder does with the bytes it has: decode commands, decode message data, hold
/// (after DATA, until the session has answered), drop everything until TLS is in place (after
/// STARTTLS: every plaintext octet the client sent behind it, in whatever TCP segment, is
/// dropped), or drop everything (after a bare newline, before the connection closes).
///
/// While input is held or awaiting TLS, `SMTPReadGate` also stops reading from the socket, so a
/// client that pipelines past DATA is held back by TCP's flow control, not by our memory.
public final class SMTPInputMode: Sendable {
    public enum Mode: UInt8, Sendable {
        case command, data, held, awaitingTLS, discard
    }

    private let value = Atomic<UInt8>(Mode.command.rawValue)
    public init() {}
    public var mode: Mode { Mode(rawValue: value.load(ordering: .acquiring))! }
    public func set(_ mode: Mode) { value.store(mode.rawValue, ordering: .releasing) }
}

/// Splits input into commands and message data under RFC 5321's rules, strictly:
///
/// * Every line ends with CRLF. A bare LF or a bare CR anywhere, in a command or in the data, is
///   reported (`.bareNewline`) and everything after it dropped, so `\n.\r\n`, `\r.\r\n`,
///   `\r\n.\n` and `\n.\n` can never end the data or start a smuggled transaction (as Postfix's
///   smtpd_forbid_bare_newline = reject).
/// * The data ends at CRLF "." CRLF and nothing else; leading dots are removed (RFC 5321 4.5.2).
/// * Command lines are limited to `maxCommandLine` octets, text lines to `maxTextLine`, both
///   with CRLF; nothing is buffered beyond them.
/// * After a DATA or STARTTLS command (`SMTPCommandLine.endsPipelinedGroup`, the session's own
///   definition) the decoder holds pipelined octets (DATA, at most `maxHeld`) or drops them
///   (STARTTLS, until TLS is in place) until the session switches the mode after its reply.
public struct SMTPInputDecoder: ByteToMessageDecoder {
    public typealias InboundOut = SMTPInput
    let maxCommandLine: Int
    let maxTextLine: Int
    let mode: SMTPInputMode
    /// Data mode: the next octet starts a line.
    var atLineStart = true
    /// Data mode: octets of the current line so far (for the text line limit).
    var lineLength = 0
    var lineTooLong = false
    /// Command mode: discarding an over-long line up to its LF.
    var discardingLine = false
    /// Message octets gathered in one decode call, handed on in one piece.
    static let dataChunk = 64 * 1024
    /// Octets kept while input is held after DATA. The read gate stops reading while held, so
    /// only what one read cycle brought can wait here (NIO reads at most 4 x 64 KiB per cycle);
    /// more means the gate was bypassed, and the connection is closed rather than grown.
    public static let maxHeld = 1 << 20

    public init(mode: SMTPInputMode, maxCommandLine: Int = 512, maxTextLine: Int = 1000) {
        self.mode = mode
        self.maxCommandLine = maxCommandLine
        self.maxTextLine = maxTextLine
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        switch mode.mode {
        case .held:
            if buffer.readableBytes > Self.maxHeld {
                mode.set(.discard)
                buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                context.fireChannelRead(Self.wrapInboundOut(.overflow))
            }
            return .needMoreData
        case .awaitingTLS, .discard:
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            return .needMoreData
        case .data:
            return decodeData(context: context, buffer: &buffer)
        case .command:
            return decodeCommand(context: context, buffer: &buffer)
        }
    }

    mutating func bareNewline(context: ChannelHandlerContext, buffer: inout ByteBuffer) -> DecodingState {
        mode.set(.discard)
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        context.fireChannelRead(Self.wrapInboundOut(.bareNewline))
        return .needMoreData
    }

    /// Data mode: the message octets before the bare newline go out first, then the news.
    mutating func bareNewline(after out: inout ByteBuffer, context: ChannelHandlerContext, buffer: inout ByteBuffer) -> DecodingState {
        if out.readableBytes > 0 {
            context.fireChannelRead(Self.wrapInboundOut(.data(out)))
            out.clear()
        }
        return bareNewline(context: context, buffer: &buffer)
    }

    mutating func decodeCommand(context: ChannelHandlerContext, buffer: inout ByteBuffer) -> DecodingState {
        // Every complete line in the buffer goes out in one group, so the session can work on
        // a pipelined group together (relay-policy questions for its RCPTs at once).
        var group: [String] = []
        func flush() {
            if !group.isEmpty { context.fireChannelRead(Self.wrapInboundOut(.commands(group))) }
            group = []
        }
        while true {
            guard let lf = buffer.octet(0x0A, from: buffer.readerIndex, to: buffer.writerIndex) else {
                flush()
                if buffer.octet(0x0D, from: buffer.readerIndex, to: buffer.writerIndex - 1) != nil {
                    return bareNewline(context: context, buffer: &buffer)
                }
                if buffer.readableBytes >= maxCommandLine {
                    // Keep a trailing CR: its LF may come in the next read and ends the line.
                    let trailingCR = buffer.readableBytesView.last == 0x0D ? 1 : 0
                    buffer.moveReaderIndex(forwardBy: buffer.readableBytes - trailingCR)
                    if !discardingLine { context.fireChannelRead(Self.wrapInboundOut(.commandTooLong)) }
                    discardingLine = true
                }
                return .needMoreData
            }
            let length = lf - buffer.readerIndex
            let line = buffer.readSlice(length: length + 1)!
            let view = line.readableBytesView
            guard length >= 1, view[view.endIndex - 2] == 0x0D, line.octet(0x0D, from: line.readerIndex, to: line.readerIndex + length - 1) == nil else {
                flush()
                return bareNewline(context: context, buffer: &buffer)
            }
            if discardingLine {
                discardingLine = false
                continue
            }
            guard length + 1 <= maxCommandLine else {
                flush()
                context.fireChannelRead(Self.wrapInboundOut(.commandTooLong))
                continue
            }
            let text = String(decoding: view.dropLast(2), as: UTF8.self)
            group.append(text)
            let command = SMTPCommandLine(text)
            if command.endsPipelinedGroup {
                if command.verb == "DATA" {
                    mode.set(.held)
                    atLineStart = true
                    lineLength = 0
                    lineTooLong = false
                } else {
                    mode.set(.awaitingTLS)
                    buffer.moveReaderIndex(forwardBy: buffer.readableBytes) // plaintext pipelined behind STARTTLS
                }
                flush()
                return .needMoreData
            }
        }
    }

    mutating func decodeData(context: ChannelHandlerContext, buffer: inout ByteBuffer) -> DecodingState {
        var out = context.channel.allocator.buffer(capacity: min(buffer.readableBytes, Self.dataChunk + maxTextLine))
        defer {
            if out.readableBytes > 0 { context.fireChannelRead(Self.wrapInboundOut(.data(out))) }
        }
        while true {
            let view = buffer.readableBytesView
            guard let lf = buffer.octet(0x0A, from: buffer.readerIndex, to: buffer.writerIndex) else {
                // A partial line: hand it on only when it is over the limit (it will be refused);
                // keep a trailing CR, whose LF may be in the next read.
                if buffer.octet(0x0D, from: buffer.readerIndex, to: buffer.writerIndex - 1) != nil {
                    return bareNewline(after: &out, context: context, buffer: &buffer)
                }
                if lineLength + view.count > maxTextLine {
                    lineTooLong = true
                    var take = view.count - (view.last == 0x0D ? 1 : 0)
                    if atLineStart, view.first == 0x2E { buffer.moveReaderIndex(forwardBy: 1); take -= 1 }
                    var piece = buffer.readSlice(length: take)!
                    out.writeBuffer(&piece)
                    lineLength += take
                    atLineStart = false
                }
                return .needMoreData
            }
            let length = lf - buffer.readerIndex // octets before the LF
            guard length >= 1, view[lf - 1] == 0x0D, buffer.octet(0x0D, from: buffer.readerIndex, to: lf - 1) == nil else {
                return bareNewline(after: &out, context: context, buffer: &buffer)
            }
            if atLineStart && length == 2 && view.first == 0x2E {
                buffer.moveReaderIndex(forwardBy: 3)
                if out.readableBytes > 0 {
                    context.fireChannelRead(Self.wrapInboundOut(.data(out)))
                    out.clear()
                }
                context.fireChannelRead(Self.wrapInboundOut(.dataEnd(lineTooLong: lineTooLong)))
                mode.set(.command)
                return .continue
            }
            if lineLength + length + 1 > maxTextLine { lineTooLong = true }
            var skip = 0
            if atLineStart, view.first == 0x2E { skip = 1 }
            buffer.moveReaderIndex(forwardBy: skip)
            var line = buffer.readSlice(length: length + 1 - skip)!
            out.writeBuffer(&line)
            atLineStart = true
            lineLength = 0
            if out.readableBytes >= Self.dataChunk {
                context.fireChannelRead(Self.wrapInboundOut(.data(out)))
                out = context.channel.allocator.buffer(capacity: Self.dataChunk + maxTextLine)
            }
        }
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes) // an unterminated last line is dropped
        return .needMoreData
    }
}

extension ByteBuffer {
    /// The index of the first `octet` at indices `from..<to` (of the readable part), found with
    /// memchr(3): every line of every message goes through these scans (twice: its LF, then a
    /// bare CR before it), which a Swift loop over the octets made a visible part of smtp-in's
    /// CPU for large messages.
    func octet(_ octet: UInt8, from start: Int, to end: Int) -> Int? {
        guard end > start else { return nil }
        return withUnsafeReadableBytes { bytes -> Int? in
            guard let base = bytes.baseAddress else { return nil }
            precondition(start >= readerIndex && end - readerIndex <= bytes.count, "scan outside the readable octets")
            let from = base + (start - readerIndex)
            return memchr(from, Int32(octet), end - start).map { start + from.distance(to: UnsafeRawPointer($0)) }
        }
    }
}
