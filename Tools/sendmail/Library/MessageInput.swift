#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The end of a message read by sendmail -bm: the end of input, or (without -i) a line of a
/// single dot, `.` then LF or CRLF (or the end of input). Nothing after that line is read. The
/// message's octets are otherwise kept as they are (line ends included: the queue makes them
/// CRLF); no dot is removed, since outside SMTP nothing was dot-stuffed. A value-type state
/// machine, so input in any pieces ends at the same place.
public struct DotTerminator: Sendable {
    let ignoreDots: Bool
    var atLineStart = true
    /// A `.` at a line's start, and maybe a CR after it, waiting for what follows.
    var pending: [UInt8] = []
    public private(set) var ended = false

    public init(ignoreDots: Bool) {
        self.ignoreDots = ignoreDots
    }

    /// The message's octets in `bytes` (none once the terminating line was seen).
    public mutating func feed(_ bytes: some Collection<UInt8>) -> [UInt8] {
        guard !ended else { return [] }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for byte in bytes {
            if !pending.isEmpty {
                if byte == 0x0A {
                    ended = true
                    return out
                }
                if byte == 0x0D && pending == [UInt8(ascii: ".")] {
                    pending.append(byte)
                    continue
                }
                out += pending
                pending.removeAll()
                atLineStart = false
            }
            if atLineStart && byte == UInt8(ascii: ".") && !ignoreDots {
                pending = [byte]
                continue
            }
            out.append(byte)
            atLineStart = byte == 0x0A
        }
        return out
    }

    /// The end of input: a `.` alone on the last line ends the message there too.
    public mutating func finish() {
        if !pending.isEmpty { ended = true }
        pending.removeAll()
    }
}

/// Reads from a file descriptor (stdin) on a thread of its own, one read at a time as the
/// caller asks, so a blocking read never holds a thread of the cooperative pool (the IPC
/// client's task runs there).
public struct DescriptorReader: Sendable {
    public let fd: Int32

    public init(fd: Int32 = 0) { self.fd = fd }

    /// Up to `count` octets; nil at the end of input (or on an error).
    public func read(upTo count: Int = 64 * 1024) async -> [UInt8]? {
        let fd = self.fd
        return await withCheckedContinuation { continuation in
            let thread = Thread {
                var buffer = [UInt8](repeating: 0, count: count)
                while true {
                    let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, count) }
                    if n < 0 && errno == EINTR { continue }
                    continuation.resume(returning: n > 0 ? Array(buffer[..<n]) : nil)
                    return
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }
}

/// Lines of an input, LF or CRLF ended (the line end removed), for sendmail -bs. A line longer
/// than `maxLine` comes back cut there with `tooLong` set, and the rest of it is skipped.
public struct LineReader: Sendable {
    public struct Line: Equatable, Sendable {
        public var bytes: [UInt8]
        public var tooLong = false
        public init(bytes: [UInt8], tooLong: Bool = false) {
            self.bytes = bytes
            self.tooLong = tooLong
        }
    }

    let reader: DescriptorReader
    let maxLine: Int
    var buffer: [UInt8] = []
    var atEnd = false
    var skipping = false

    public init(reader: DescriptorReader, maxLine: Int = 64 * 1024) {
        self.reader = reader
        self.maxLine = maxLine
    }

    /// The next line; nil at the end of input (a last line without its line end is a line).
    public mutating func next() async -> Line? {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                var line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                if line.last == 0x0D { line.removeLast() }
                if skipping {
                    skipping = false
                    continue
                }
                if line.count > maxLine { return Line(bytes: Array(line.prefix(maxLine)), tooLong: true) }
                return Line(bytes: line)
            }
            if buffer.count > maxLine && !skipping {
                let line = Array(buffer.prefix(maxLine))
                buffer.removeAll()
                skipping = true
                return Line(bytes: line, tooLong: true)
            }
            if skipping { buffer.removeAll() }
            if atEnd {
                guard !buffer.isEmpty else { return nil }
                defer { buffer.removeAll() }
                return Line(bytes: buffer.last == 0x0D ? Array(buffer.dropLast()) : buffer)
            }
            if let chunk = await reader.read() { buffer += chunk } else { atEnd = true }
        }
    }
}
