import Foundation
import IPC
import NIOCore
import Testing

@Suite("IPC frames and codec")
struct FrameParserTests {
    func frame(_ envelope: IPCEnvelope) throws -> ByteBuffer { try IPCCodec.encodeFrame(envelope) }

    func ping(_ id: UInt64, _ payload: String) -> IPCEnvelope {
        var p = Mailstack_Ipc_Ping()
        p.payload = Data(payload.utf8)
        return IPCEnvelope(id: id, body: .ping(p))
    }

    @Test("a ping frame has the documented bytes")
    func byteFixture() throws {
        // Envelope{request_id: 7, ping{payload: "hi"}}: field 1 varint 7; field 13 (0x6a) len 4 { field 1 len 2 "hi" }.
        let bytes = Array(try frame(ping(7, "hi")).readableBytesView)
        #expect(bytes == [0, 0, 0, 8, 0x08, 0x07, 0x6a, 0x04, 0x0a, 0x02, 0x68, 0x69])
    }

    @Test("frames drip-fed one byte at a time come out whole and in order")
    func dripFeed() throws {
        var all = ByteBuffer()
        var expected: [IPCEnvelope] = []
        for i in 1...5 {
            let e = ping(UInt64(i), String(repeating: "x", count: i * 100))
            expected.append(e)
            var f = try frame(e)
            all.writeBuffer(&f)
        }
        let parser = IPCFrameParser()
        var buffer = ByteBuffer()
        var got: [IPCEnvelope] = []
        for byte in all.readableBytesView {
            buffer.writeInteger(byte)
            while let payload = try parser.nextFrame(from: &buffer) { got.append(try IPCCodec.decode(payload)) }
        }
        #expect(got == expected)
        try parser.finish(leftover: buffer)
    }

    @Test("an oversized length is refused as soon as the 4 length bytes arrive")
    func oversized() throws {
        let parser = IPCFrameParser(maxFrame: 1024)
        var buffer = ByteBuffer(bytes: [0, 0, 0x04])
        #expect(try parser.nextFrame(from: &buffer) == nil)
        buffer.writeInteger(UInt8(0x01)) // 1025
        #expect(throws: IPCError.frameTooLarge(length: 1025, max: 1024)) { try parser.nextFrame(from: &buffer) }
        var huge = ByteBuffer(bytes: [0xff, 0xff, 0xff, 0xff])
        #expect(throws: IPCError.frameTooLarge(length: Int(UInt32.max), max: 1024)) { try parser.nextFrame(from: &huge) }
    }

    @Test("a connection closed inside a frame is a truncated frame")
    func truncated() throws {
        let parser = IPCFrameParser()
        var buffer = try frame(ping(1, "hello"))
        buffer.moveWriterIndex(to: buffer.writerIndex - 2)
        #expect(try parser.nextFrame(from: &buffer) == nil)
        #expect(throws: IPCError.truncatedFrame(have: 13, need: 15)) { try parser.finish(leftover: buffer) }
        #expect(throws: IPCError.truncatedFrame(have: 2, need: 4)) { try parser.finish(leftover: ByteBuffer(bytes: [0, 0])) }
    }

    @Test("garbage payloads do not decode")
    func garbage() {
        for bytes: [UInt8] in [[0xff], [0x0a, 0x10, 0x01], [0x6a, 0x7f, 0x01], [0x08, 0x80, 0x80, 0x80]] {
            #expect(throws: IPCError.self) { try IPCCodec.decode(ByteBuffer(bytes: bytes)) }
        }
    }

    @Test("a body of an unknown type decodes as unknown, not as an error")
    func unknownType() throws {
        // request_id 3, field 99 (length-delimited, empty): a message type from a newer peer.
        let envelope = try IPCCodec.decode(ByteBuffer(bytes: [0x08, 0x03, 0x9a, 0x06, 0x00]))
        #expect(envelope.requestID == 3)
        #expect(envelope.body == nil)
        #expect(envelope.hasUnknownBody)
        #expect(envelope.typeName == "unknown")
    }

    @Test("every body type round-trips")
    func roundTrip() throws {
        var chunk = Mailstack_Ipc_StreamChunk()
        chunk.data = Data(repeating: 1, count: 70_000)
        chunk.last = true
        let bodies: [IPCBody] = [
            .hello(service: "queue", maxFrame: 4096), .error(.permissionDenied, "no"), .chunk(chunk),
            .ping(Mailstack_Ipc_Ping()), .pong(Mailstack_Ipc_Pong()),
        ]
        for (i, body) in bodies.enumerated() {
            let e = IPCEnvelope(id: UInt64(i + 1), body: body, streamFollows: i % 2 == 0)
            var f = try frame(e)
            let payload = try #require(try IPCFrameParser().nextFrame(from: &f))
            #expect(try IPCCodec.decode(payload) == e)
        }
    }
}
