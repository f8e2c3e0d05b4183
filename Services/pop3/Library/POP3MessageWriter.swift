import NIOCore

/// Turns a stored message into its POP3 form as it streams: every line ending CRLF (bare LF
/// becomes CRLF), a line starting with "." gets another "." (RFC 1939 byte-stuffing), the end
/// is "CRLF.CRLF". With `bodyLines`, only the headers, the blank line and that many body lines
/// are sent (TOP).
public struct POP3MessageWriter: Sendable {
    var atLineStart = true
    /// The current line has something besides a CR (so it is not the header/body separator).
    var lineHasContent = false
    var previousCR = false
    var inBody = false
    var bodyLinesLeft: Int?
    var finishedEarly = false

    public init(bodyLines: Int? = nil) { self.bodyLinesLeft = bodyLines }

    /// True once TOP has sent all it wants; further input is ignored.
    public var isDone: Bool { finishedEarly }

    /// Converts `input`, copying whole line segments at a time (this runs for every octet RETR
    /// sends).
    public mutating func transform(_ input: ByteBuffer, into out: inout ByteBuffer) {
        guard !finishedEarly else { return }
        out.reserveCapacity(minimumWritableBytes: input.readableBytes + input.readableBytes / 32 + 8)
        input.withUnsafeReadableBytes { bytes in
            var index = 0
            while index < bytes.count {
                if atLineStart {
                    if inBody, let left = bodyLinesLeft, left == 0 {
                        finishedEarly = true
                        return
                    }
                    if bytes[index] == UInt8(ascii: ".") { out.writeInteger(UInt8(ascii: ".")) }
                }
                let rest = UnsafeRawBufferPointer(rebasing: bytes[index...])
                let lineEnd = rest.firstIndex(of: 10).map { index + $0 } ?? bytes.count
                if lineEnd > index {
                    let segment = UnsafeRawBufferPointer(rebasing: bytes[index..<lineEnd])
                    out.writeBytes(segment)
                    if segment.count > 1 || segment[0] != 13 { lineHasContent = true }
                    previousCR = segment[segment.count - 1] == 13
                    atLineStart = false
                }
                guard lineEnd < bytes.count else { return }
                if !previousCR { out.writeInteger(UInt8(13)) }
                out.writeInteger(UInt8(10))
                endLine()
                index = lineEnd + 1
            }
        }
    }

    mutating func endLine() {
        if inBody {
            if let left = bodyLinesLeft { bodyLinesLeft = left - 1 }
        } else if !lineHasContent {
            inBody = true
        }
        atLineStart = true
        lineHasContent = false
        previousCR = false
    }

    /// The terminator: a CRLF if the message did not end with one, then ".CRLF".
    public mutating func finish(into out: inout ByteBuffer) {
        if !atLineStart { out.writeString("\r\n") }
        out.writeString(".\r\n")
    }
}
