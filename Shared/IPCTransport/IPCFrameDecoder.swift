import IPC
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
    static func configure(_ channel: Channel, maxFrame: Int) throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(IPCFrameDecoder(maxFrame: maxFrame)))
        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
    }

    /// For accepted connections: a connection accepted but never served (the listener was shut
    /// down with it still queued) must be closed when dropped, not trap. NIO names this
    /// initializer deprecated because it tears down on deinit, which is the point here.
    static func configureAccepted(_ channel: Channel, maxFrame: Int) throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(IPCFrameDecoder(maxFrame: maxFrame)))
        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(synchronouslyWrapping: channel)
    }
}
