/// Splits an mbox into messages. Pure: works on the file's bytes (mapped by `MboxFile`), keeps
/// only offsets, and copies a message's bytes only when asked for them.
public enum MboxParser {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case notAnMbox(String)
        public var description: String {
            switch self {
            case let .notAnMbox(reason): return "not an mbox: \(reason)"
            }
        }
    }

    /// Where one message lies in the file.
    public struct Span: Sendable, Equatable {
        /// 1-based position in the mbox.
        public var ordinal: Int
        /// The `From ` line, without its newline.
        public var fromLine: Range<Int>
        /// The message as stored (quoted), after the From line and before the empty separator line.
        public var stored: Range<Int>
    }

    /// Every message of `bytes`, in file order. An empty file has none; anything else must start
    /// with a `From ` line.
    public static func split(_ bytes: UnsafeRawBufferPointer, format: MboxFormat) throws -> [Span] {
        let count = bytes.count
        if count == 0 { return [] }
        guard startsWithFrom(bytes, at: 0) else {
            throw Failure.notAnMbox("the first line is not a \"From \" line")
        }
        var spans: [Span] = []
        var start = 0 // of the current From line
        while start < count {
            let fromEnd = lineEnd(bytes, from: start)
            let contentStart = min(fromEnd + 1, count)
            var end: Int? = nil
            if format.usesContentLength, let bodyEnd = contentLengthEnd(bytes, contentStart: contentStart) {
                end = bodyEnd
            }
            let (storedEnd, next) = end.map { boundary(bytes, at: $0) } ?? nextSeparator(bytes, after: contentStart)
            spans.append(Span(ordinal: spans.count + 1, fromLine: start..<fromEnd, stored: contentStart..<max(contentStart, storedEnd)))
            start = next
        }
        return spans
    }

    /// The bytes of a message as its writer received them: the stored bytes with one level of
    /// `From ` quoting removed as `format` says.
    public static func unquoted(_ bytes: UnsafeRawBufferPointer, _ span: Span, format: MboxFormat) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(span.stored.count)
        var line = span.stored.lowerBound
        while line < span.stored.upperBound {
            let end = min(lineEnd(bytes, from: line) + 1, span.stored.upperBound)
            var first = line
            if isQuotedFrom(bytes, at: line, upTo: end, quoting: format.quoting) { first += 1 }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[first..<end]))
            line = end
        }
        return out
    }

    // MARK: lines

    static func lineEnd(_ bytes: UnsafeRawBufferPointer, from: Int) -> Int {
        var i = from
        while i < bytes.count && bytes[i] != 0x0A { i += 1 }
        return i
    }

    static let fromPrefix: [UInt8] = Array("From ".utf8)

    static func startsWithFrom(_ bytes: UnsafeRawBufferPointer, at i: Int) -> Bool {
        guard i + 5 <= bytes.count else { return false }
        for k in 0..<5 where bytes[i + k] != fromPrefix[k] { return false }
        return true
    }

    static func isQuotedFrom(_ bytes: UnsafeRawBufferPointer, at line: Int, upTo end: Int, quoting: MboxFormat.Quoting) -> Bool {
        guard line < end, bytes[line] == UInt8(ascii: ">") else { return false }
        switch quoting {
        case .none: return false
        case .fromOnly: return startsWithFrom(bytes, at: line + 1) && line + 6 <= end
        case .anyDepth:
            var i = line
            while i < end && bytes[i] == UInt8(ascii: ">") { i += 1 }
            return startsWithFrom(bytes, at: i) && i + 5 <= end
        }
    }

    /// From `contentStart`, the next line `From ` that follows an empty line: the end of the
    /// stored message (the empty line is the separator, not the message's) and where the next
    /// message starts; or the end of the file (a final empty line is the separator too).
    static func nextSeparator(_ bytes: UnsafeRawBufferPointer, after contentStart: Int) -> (storedEnd: Int, next: Int) {
        let count = bytes.count
        var line = contentStart
        var previousEmpty = false
        while line < count {
            if previousEmpty && startsWithFrom(bytes, at: line) {
                return (line - 1, line)
            }
            let end = lineEnd(bytes, from: line)
            previousEmpty = end == line
            line = end + 1
        }
        // The end of the file: drop the separator's empty line if the writer left one.
        if count - contentStart >= 2 && bytes[count - 1] == 0x0A && bytes[count - 2] == 0x0A { return (count - 1, count) }
        if count - contentStart == 1 && bytes[count - 1] == 0x0A { return (count - 1, count) }
        return (count, count)
    }

    /// Where a body declared by `Content-Length:` ends, if the header is there and the end lands
    /// on a message boundary: the end of the file, or an optional empty line and a `From ` line.
    static func contentLengthEnd(_ bytes: UnsafeRawBufferPointer, contentStart: Int) -> Int? {
        var line = contentStart
        var length: Int? = nil
        while line < bytes.count {
            let end = lineEnd(bytes, from: line)
            if end == line { // the empty line that ends the header
                guard let length else { return nil }
                let (bodyStart, overflow) = (end + 1).addingReportingOverflow(length)
                guard !overflow, bodyStart <= bytes.count else { return nil }
                let stop = bodyStart
                if stop == bytes.count { return stop }
                if startsWithFrom(bytes, at: stop) && bytes[stop - 1] == 0x0A { return stop }
                if bytes[stop] == 0x0A && (stop + 1 == bytes.count || startsWithFrom(bytes, at: stop + 1)) { return stop }
                return nil
            }
            if length == nil, let value = headerValue(bytes, line: line, end: end, name: "content-length") {
                let digits = value.drop { $0 == 0x20 || $0 == 0x09 }.prefix { $0 >= 0x30 && $0 <= 0x39 }
                if !digits.isEmpty, digits.count <= 15 { length = Int(String(decoding: digits, as: UTF8.self)) }
            }
            line = end + 1
        }
        return nil
    }

    /// The end of a Content-Length body at `stop`: the stored message ends there; the next
    /// message starts after an empty line if there is one.
    static func boundary(_ bytes: UnsafeRawBufferPointer, at stop: Int) -> (storedEnd: Int, next: Int) {
        if stop < bytes.count && bytes[stop] == 0x0A { return (stop, stop + 1) }
        return (stop, stop)
    }

    /// The value of header line `line..<end` if its name is `name` (ASCII, case-insensitive).
    static func headerValue(_ bytes: UnsafeRawBufferPointer, line: Int, end: Int, name: String) -> [UInt8]? {
        guard hasASCIIPrefix(bytes[line..<end], name + ":") else { return nil }
        return Array(UnsafeRawBufferPointer(rebasing: bytes[(line + name.utf8.count + 1)..<end]))
    }
}
