import IPC
import NIOCore

/// The IPC frame parser on any byte stream, fed whole and in pieces, with a small or the
/// default cap. Properties: no payload is over the cap; `frameTooLarge` only for a length over
/// the cap; the frames written back with `IPCFrameWriter` are the octets consumed; the split of
/// the input changes nothing; `finish` refuses exactly the leftovers.
func fuzzIPCFrame(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let maxFrame = input.bool() ? IPCLimits.defaultMaxFrame : 1 + Int(input.byte())
    let sizes = input.field()
    let stream = input.rest()
    let whole = parseFrames([stream], maxFrame: maxFrame)
    let split = parseFrames(chunks(stream, sizes: sizes.isEmpty ? [1] : sizes), maxFrame: maxFrame)
    check(whole.payloads == split.payloads && whole.tooLarge == split.tooLarge, "the split changes the frames")
    var written = ByteBuffer()
    for payload in whole.payloads {
        check(payload.count <= maxFrame, "a payload of \(payload.count) octets over the cap \(maxFrame)")
        IPCFrameWriter.write(payload: ByteBuffer(bytes: payload), into: &written)
    }
    check(Array(written.readableBytesView) == Array(stream.prefix(written.readableBytes)), "frames written back differ from the input")
    let rest = stream.count - written.readableBytes
    if let length = whole.tooLarge {
        check(length > maxFrame, "frameTooLarge for \(length) octets, cap \(maxFrame)")
    } else {
        check(whole.leftover == rest && (rest < 4 || Int(UInt32(bigEndian: stream[written.readableBytes..<written.readableBytes + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })) + 4 > rest),
              "a whole frame left unparsed")
        check(whole.finishRefused == (rest > 0), "finish with \(rest) octets left")
    }
}

func parseFrames(_ pieces: [[UInt8]], maxFrame: Int) -> (payloads: [[UInt8]], tooLarge: Int?, leftover: Int, finishRefused: Bool) {
    let parser = IPCFrameParser(maxFrame: maxFrame)
    var buffer = ByteBuffer()
    var payloads: [[UInt8]] = []
    for piece in pieces {
        buffer.writeBytes(piece)
        do {
            while let payload = try parser.nextFrame(from: &buffer) { payloads.append(Array(payload.readableBytesView)) }
        } catch let IPCError.frameTooLarge(length, _) {
            return (payloads, length, buffer.readableBytes, true)
        } catch {
            violated("nextFrame threw \(error)")
        }
        buffer.discardReadBytes()
    }
    let refused = (try? parser.finish(leftover: buffer)) == nil
    return (payloads, nil, buffer.readableBytes, refused)
}

/// The IPC codec on any payload. Properties: what decodes encodes again and decodes to the same
/// envelope; the encoded frame is a length prefix and that encoding; `typeName` names every
/// decoded body.
func fuzzIPCCodec(_ bytes: [UInt8]) {
    guard let envelope = try? IPCCodec.decode(ByteBuffer(bytes: bytes)) else { return }
    _ = envelope.typeName
    guard let encoded = try? IPCCodec.encode(envelope) else { violated("a decoded envelope does not encode") }
    guard let again = try? IPCCodec.decode(encoded) else { violated("an encoded envelope does not decode") }
    check(again == envelope, "codec round trip changed the envelope")
    guard var frame = try? IPCCodec.encodeFrame(envelope) else { violated("a decoded envelope does not encode as a frame") }
    guard let payload = try? IPCFrameParser(maxFrame: Int(UInt32.max)).nextFrame(from: &frame) else { violated("an encoded frame does not parse") }
    check(payload == encoded && frame.readableBytes == 0, "encodeFrame is not a frame of encode")
}
