import NIOCore

/// One POP3 command line, or the news that a line was too long (its octets were discarded
/// up to the next LF).
public enum POP3Line: Sendable, Equatable {
    case line(String)
    case tooLong
}

/// Splits input at LF (a CR before it is dropped), refusing lines over `maxLine` octets
/// (CRLF included) without buffering them.
public struct POP3LineDecoder: ByteToMessageDecoder {
    public typealias InboundOut = POP3Line
    let maxLine: Int
    var discarding = false

    public init(maxLine: Int = POP3Command.maxLine) { self.maxLine = maxLine }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
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
        context.fireChannelRead(Self.wrapInboundOut(.line(String(buffer: line))))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes) // an unterminated last line is dropped
        return .needMoreData
    }
}
