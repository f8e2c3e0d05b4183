/// One message of an mbox, copied out of the file: what the import needs to know about it.
public struct MboxMessage: Sendable, Equatable {
    public var ordinal: Int
    /// The separator line, e.g. `From alice@example.org Wed Dec  2 05:53:22 1992`.
    public var fromLine: [UInt8]
    /// The message as delivered (quoting removed).
    public var content: [UInt8]

    public init(ordinal: Int, fromLine: [UInt8], content: [UInt8]) {
        self.ordinal = ordinal
        self.fromLine = fromLine
        self.content = content
    }

    /// The header lines (each with its newline, continuation lines separate), up to the empty line.
    public var headerLines: [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var start = content.startIndex
        while start < content.endIndex {
            let end = content[start...].firstIndex(of: 0x0A).map { $0 + 1 } ?? content.endIndex
            let line = content[start..<end]
            if line.first == 0x0A || (line.count == 2 && line.first == 0x0D) { break }
            lines.append(line)
            start = end
        }
        return lines
    }

    /// The value on the first line of the first header field called `name` (ASCII
    /// case-insensitive), without its line ending; continuation lines are not needed here.
    public func firstHeader(_ name: String) -> [UInt8]? {
        let lowered = name.lowercased() + ":"
        guard let line = headerLines.first(where: { hasASCIIPrefix($0, lowered) }) else { return nil }
        var value = Array(line.dropFirst(lowered.utf8.count))
        while let last = value.last, last == 0x0A || last == 0x0D { value.removeLast() }
        return value
    }

    /// Maildir flags (https://cr.yp.to/proto/maildir.html, sorted) from the `Status:` and
    /// `X-Status:` fields mail readers and qpopper leave: R (read) is S, A (answered) is R, F
    /// (flagged) is F, D (deleted) is T, T (draft) is D.
    public var maildirFlags: String {
        var flags = Set<Character>()
        if let status = firstHeader("Status"), status.contains(UInt8(ascii: "R")) { flags.insert("S") }
        if let x = firstHeader("X-Status") {
            if x.contains(UInt8(ascii: "A")) { flags.insert("R") }
            if x.contains(UInt8(ascii: "F")) { flags.insert("F") }
            if x.contains(UInt8(ascii: "D")) { flags.insert("T") }
            if x.contains(UInt8(ascii: "T")) { flags.insert("D") }
        }
        return String(flags.sorted())
    }

    /// True when a mail reader has seen the message (`Status:` with O or R): it goes to cur/,
    /// not new/.
    public var isOld: Bool {
        guard let status = firstHeader("Status") else { return false }
        return status.contains(UInt8(ascii: "O")) || status.contains(UInt8(ascii: "R"))
    }
}
