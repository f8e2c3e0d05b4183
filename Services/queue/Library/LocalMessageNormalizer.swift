import IPCTransport
import NIOCore
import SMTP

/// A local user's message made into what the spool holds, as it streams in (a value-type state
/// machine; drip-fed input gives the same octets as whole input):
///
/// * every line ends in CRLF: a bare LF (what programs on Unix write) and a bare CR alike end a
///   line, so no lone CR or LF reaches the spool and smtpfeed-out's dot-stuffing sees every line;
/// * the header section is the message's first lines that are header fields (`name:` or a
///   continuation line); the first line that is none ends it, and a blank line is put before it
///   when the message has none there (`echo body | sendmail you` has no header at all), as
///   sendmail's collect does;
/// * `prefix` (the queue's trace fields) goes first, and `from` before the blank line when the
///   message has no From: of its own (Date: and Message-ID: are the HeaderRewriter's, later);
/// * the user's octets (after line ends are made CRLF) count against `limit`
///   (smtp.max_message_size), the header section against `maxHeader`.
public struct LocalMessageNormalizer: Sendable {
    enum State { case header, body }

    let prefix: [UInt8]
    let from: [UInt8]
    let limit: Int
    let maxHeader: Int
    var state = State.header
    /// A CR was the last octet seen: the next octet decides whether it was a CRLF.
    var pendingCR = false
    /// The header line being read (without its line end).
    var line: [UInt8] = []
    /// Complete header fields read so far, CRLF lines.
    var header: [UInt8] = []
    var hasField = false
    var hasFrom = false
    /// Body octets were written since the last line end.
    var bodyLineOpen = false
    /// The user's octets so far, CRLF line ends counted.
    public private(set) var size = 0

    /// The longest header section taken (sendmail's MaxHeadersLength is 32 KiB; the queue's
    /// HeaderRewriter rewrites sections up to 256 KiB, and every added field must be before it).
    public static let defaultMaxHeader = 64 * 1024

    public init(prefix: [UInt8], from: [UInt8], limit: Int, maxHeader: Int = LocalMessageNormalizer.defaultMaxHeader) {
        self.prefix = prefix
        self.from = from
        self.limit = limit
        self.maxHeader = maxHeader
    }

    public enum Failure: Error, Equatable, Sendable {
        case tooLarge(limit: Int)
        case headerTooLarge(limit: Int)
    }

    /// The octets to store for `bytes`, which follow what was fed before.
    public mutating func feed(_ bytes: some Collection<UInt8>) throws(Failure) -> [UInt8] {
        var out: [UInt8] = []
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            if pendingCR {
                pendingCR = false
                try endOfLine(&out)
                if byte == 0x0A {
                    index = bytes.index(after: index)
                    continue
                }
            }
            switch byte {
            case 0x0D:
                pendingCR = true
                index = bytes.index(after: index)
            case 0x0A:
                try endOfLine(&out)
                index = bytes.index(after: index)
            default:
                guard state == .body else {
                    line.append(byte)
                    guard header.count + line.count <= maxHeader else { throw .headerTooLarge(limit: maxHeader) }
                    index = bytes.index(after: index)
                    continue
                }
                // In the body, a run of octets up to the next line end goes at once.
                let end = bytes[index...].firstIndex { $0 == 0x0D || $0 == 0x0A } ?? bytes.endIndex
                let run = bytes[index..<end]
                try count(run.count)
                out.append(contentsOf: run)
                bodyLineOpen = true
                index = end
            }
        }
        return out
    }

    /// The octets that end the message.
    public mutating func finish() throws(Failure) -> [UInt8] {
        var out: [UInt8] = []
        if pendingCR {
            pendingCR = false
            try endOfLine(&out)
        }
        switch state {
        case .header:
            if !line.isEmpty { try endOfLine(&out) }
            if state == .header { out += closeHeader() } // no body at all
        case .body:
            // A last line without its line end gets one (the spool holds CRLF lines).
            if bodyLineOpen { try endOfLine(&out) }
        }
        return out
    }

    mutating func endOfLine(_ out: inout [UInt8]) throws(Failure) {
        switch state {
        case .body:
            try count(2)
            out += [0x0D, 0x0A]
            bodyLineOpen = false
        case .header:
            let content = line
            line.removeAll()
            if content.isEmpty {
                try count(2)
                out += closeHeader()
                return
            }
            if HeaderField.isContinuation(content) && hasField {
                try appendHeader(content)
                return
            }
            if let name = HeaderField.name(content) {
                hasField = true
                if name == "from" { hasFrom = true }
                try appendHeader(content)
                return
            }
            // Not a header line: the body starts here, after the blank line the message lacked.
            out += closeHeader()
            try count(content.count + 2)
            out += content + [0x0D, 0x0A]
        }
    }

    mutating func appendHeader(_ content: [UInt8]) throws(Failure) {
        guard header.count + content.count + 2 <= maxHeader else { throw .headerTooLarge(limit: maxHeader) }
        try count(content.count + 2)
        header += content + [0x0D, 0x0A]
    }

    /// Trace fields, the user's fields, From: if it has none, the blank line.
    mutating func closeHeader() -> [UInt8] {
        state = .body
        var out = prefix + header
        if !hasFrom { out += from }
        out += [0x0D, 0x0A]
        header.removeAll()
        return out
    }

    mutating func count(_ octets: Int) throws(Failure) {
        size += octets
        guard size <= limit else { throw .tooLarge(limit: limit) }
    }
}

extension LocalMessageNormalizer.Failure {
    /// The queue's answer to the command (which exits 69 for a message over the size limit, 65
    /// for a header section too large).
    var handlerError: IPCHandlerError {
        switch self {
        case let .tooLarge(limit): IPCHandlerError(.tooLarge, "Message size exceeds fixed maximum message size (\(limit))")
        case let .headerTooLarge(limit): IPCHandlerError(.badRequest, "Header section exceeds \(limit) octets")
        }
    }
}

/// A body stream through a `LocalMessageNormalizer`.
struct LocalMessageStream<Base: AsyncSequence>: AsyncSequence where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    let normalizer: LocalMessageNormalizer

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        var normalizer: LocalMessageNormalizer
        var finished = false

        mutating func next() async throws -> ByteBuffer? {
            while !finished {
                do {
                    if let chunk = try await base.next() {
                        let out = try normalizer.feed(chunk.readableBytesView)
                        if !out.isEmpty { return ByteBuffer(bytes: out) }
                    } else {
                        finished = true
                        let out = try normalizer.finish()
                        if !out.isEmpty { return ByteBuffer(bytes: out) }
                    }
                } catch let failure as LocalMessageNormalizer.Failure {
                    throw failure.handlerError
                }
            }
            return nil
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), normalizer: normalizer)
    }
}
