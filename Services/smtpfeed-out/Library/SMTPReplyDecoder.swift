import NIOCore
import SMTP

/// Splits a server's output into replies (RFC 5321 4.2: `250-...` lines up to `250 ...`),
/// with limits: a line over `maxLine` octets or a reply over `maxLines` lines is a protocol
/// error, not a reason to buffer without end.
///
/// The STARTTLS boundary (RFC 3207 5, CVE-2021-38371): a 220 after the greeting can only be
/// the go-ahead for TLS, after which the server must send nothing until the handshake. Octets
/// read together with that 220 (a whole reply or part of one) are refused, never kept for
/// after TLS, where they would pass for replies sent inside it. Octets read later go through
/// TLS: `STARTTLSHandler` puts it in front of this decoder while the 220 is being delivered.
public struct SMTPReplyDecoder: ByteToMessageDecoder {
    public typealias InboundOut = SMTPReply
    let maxLine = 2048
    let maxLines = 200
    var lines: [String] = []
    /// The first reply (the greeting) has been decoded.
    var greeted = false

    public init() {}

    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let lf = buffer.readableBytesView.firstIndex(of: 0x0A) else {
            if buffer.readableBytes > maxLine { throw Malformed(description: "reply line longer than \(maxLine) octets") }
            return .needMoreData
        }
        var line = buffer.readSlice(length: lf - buffer.readerIndex + 1)!
        guard line.readableBytes <= maxLine else { throw Malformed(description: "reply line longer than \(maxLine) octets") }
        var bytes = Array(line.readableBytesView)
        while let last = bytes.last, last == 0x0A || last == 0x0D { bytes.removeLast() }
        let text = String(decoding: bytes, as: UTF8.self)
        // A CR inside a line would reach logs, the queue's last error and DSNs as a line break.
        guard !bytes.contains(0x0D) else { throw Malformed(description: "CR inside a reply line: \(text.prefix(80))") }
        guard bytes.count >= 3, let code = Int(String(decoding: bytes[0..<3], as: UTF8.self)), (200...599).contains(code),
              bytes.count == 3 || bytes[3] == 0x20 || bytes[3] == 0x2D else {
            throw Malformed(description: "not an SMTP reply: \(text.prefix(80))")
        }
        lines.append(bytes.count > 4 ? String(decoding: bytes[4...], as: UTF8.self) : "")
        guard lines.count <= maxLines else { throw Malformed(description: "reply of more than \(maxLines) lines") }
        if bytes.count > 3 && bytes[3] == 0x2D { return .continue }
        if greeted && code == 220 && buffer.readableBytes > 0 {
            throw Malformed(description: "\(buffer.readableBytes) octets in plaintext after the 220 to STARTTLS (RFC 3207: a possible command injection)")
        }
        greeted = true
        // An enhanced status code (RFC 2034) at the start of the last line is split off.
        var enhanced = ""
        if let first = lines.last?.split(separator: " ", maxSplits: 1).first, SMTPReply.isEnhancedCode(first, for: code) {
            enhanced = String(first)
            lines = lines.map { line in
                line.hasPrefix(enhanced + " ") ? String(line.dropFirst(enhanced.count + 1)) : line == enhanced ? "" : line
            }
        }
        context.fireChannelRead(Self.wrapInboundOut(SMTPReply(code, enhanced, lines: lines)))
        lines = []
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
