import IPC
import Listeners
import NIOCore

/// NIO adapter over `IPCFrameParser`: emits one ByteBuffer per frame payload. An oversized
/// length fails the channel before the payload is read; a connection closed inside a frame
/// fails with `truncatedFrame`.
struct IPCFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let parser: IPCFrameParser

    init(maxFrame: Int) { self.parser = IPCFrameParser(maxFrame: maxFrame) }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let payload = try parser.nextFrame(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(payload))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try self.decode(context: context, buffer: &buffer) == .continue {}
        try parser.finish(leftover: buffer)
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        return .needMoreData
    }
}

/// The pipeline both ends use: frames in, framed ByteBuffers out.
enum IPCPipeline {
    /// Frames in, frames out (`ChannelIO`). A connection accepted but never served (the listener
    /// was shut down with it still queued) is closed when its `ChannelIO` is dropped.
    static func configure(_ channel: Channel, maxFrame: Int) throws -> ChannelIO<ByteBuffer> {
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(IPCFrameDecoder(maxFrame: maxFrame)))
        return try ChannelIO<ByteBuffer>(synchronouslyOn: channel)
    }
}
