import NIOCore

/// The frame layer: a 4-octet big-endian length, then that many octets of payload.
///
///     frame  = length payload
///     length = 4OCTET   ; big-endian, <= the receiver's cap
///
/// `IPCFrameParser` is a value type with no I/O: feed it bytes as they arrive (in any split, one
/// byte at a time included) and take whole payloads out.
public struct IPCFrameParser: Sendable {
    public let maxFrame: Int

    public init(maxFrame: Int = IPCLimits.defaultMaxFrame) {
        precondition(maxFrame > 0, "frame cap must be positive")
        self.maxFrame = maxFrame
    }

    /// Takes one whole frame's payload out of `buffer`, or returns nil (consuming nothing) when
    /// the frame is not complete yet. Throws `frameTooLarge` as soon as the length is readable,
    /// before waiting for (or allocating) the payload.
    public func nextFrame(from buffer: inout ByteBuffer) throws -> ByteBuffer? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self) else {
            return nil
        }
        guard length <= UInt32(self.maxFrame) else {
            throw IPCError.frameTooLarge(length: Int(length), max: self.maxFrame)
        }
        guard buffer.readableBytes >= IPCLimits.lengthPrefix + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: IPCLimits.lengthPrefix)
        return buffer.readSlice(length: Int(length))
    }

    /// Called when the stream ended: leftover octets mean the peer closed inside a frame.
    public func finish(leftover buffer: ByteBuffer) throws {
        guard buffer.readableBytes > 0 else { return }
        let need = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self)
            .map { Int($0) + IPCLimits.lengthPrefix } ?? IPCLimits.lengthPrefix
        throw IPCError.truncatedFrame(have: buffer.readableBytes, need: need)
    }
}

public enum IPCFrameWriter {
    /// Appends one frame holding `payload` to `buffer`.
    public static func write(payload: ByteBuffer, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt32(payload.readableBytes), endianness: .big)
        var payload = payload
        buffer.writeBuffer(&payload)
    }
}
