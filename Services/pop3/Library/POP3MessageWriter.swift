import NIOCore

/// Turns a stored message into its POP3 form as it streams: every line ending CRLF (bare LF
/// becomes CRLF), a line starting with "." gets another "." (RFC 1939 byte-stuffing), the end
/// is "CRLF.CRLF". With `bodyLines`, only the headers, the blank line and that many body lines
/// are sent (TOP).
public struct POP3MessageWriter: Sendable {
    var atLineStart = true
    var previousCR = false
    var inBody = false
    var bodyLinesLeft: Int?
    var finishedEarly = false

    public init(bodyLines: Int? = nil) { self.bodyLinesLeft = bodyLines }

    /// True once TOP has sent all it wants; further input is ignored.
    public var isDone: Bool { finishedEarly }

    public mutating func transform(_ input: ByteBuffer, into out: inout ByteBuffer) {
        guard !finishedEarly else { return }
        out.reserveCapacity(minimumWritableBytes: input.readableBytes + input.readableBytes / 32 + 8)
        for byte in input.readableBytesView {
            if atLineStart {
                if inBody, let left = bodyLinesLeft, left == 0 {
                    finishedEarly = true
                    return
                }
                if byte == UInt8(ascii: ".") { out.writeInteger(UInt8(ascii: ".")) }
            }
            switch byte {
            case 10:
                if !previousCR { out.writeInteger(UInt8(13)) }
                out.writeInteger(UInt8(10))
                endLine()
            default:
                out.writeInteger(byte)
                atLineStart = false
            }
            previousCR = byte == 13
        }
    }

    mutating func endLine() {
        let lineWasEmpty = atLineStart
        atLineStart = true
        if inBody {
            if let left = bodyLinesLeft { bodyLinesLeft = left - 1 }
        } else if lineWasEmpty {
            inBody = true
        }
    }

    /// The terminator: a CRLF if the message did not end with one, then ".CRLF".
    public mutating func finish(into out: inout ByteBuffer) {
        if !atLineStart { out.writeString("\r\n") }
        out.writeString(".\r\n")
    }
}
