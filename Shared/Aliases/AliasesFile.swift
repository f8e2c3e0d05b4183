/// sendmail's aliases file (aliases(5)), read as sendmail's newaliases reads it, but strict: any
/// bad line makes the whole file invalid, with every problem named by file and line.
///
///     aliases-file = *( entry / comment-line / blank-line )
///     entry        = first-line *continuation
///     first-line   = name *WSP ":" *WSP rhs LF        ; a line ending in "\" is joined to the
///                                                    ; next (both removed), as sendmail does
///     continuation = 1*WSP *octet LF                  ; appended to rhs as it is (its leading
///                                                    ; blanks kept, the LF dropped)
///     comment-line = "#" *octet LF                    ; ends an entry: a continuation after it
///                                                    ; is an error (sendmail drops it silently)
///     blank-line   = *WSP LF                          ; an empty line ends an entry; one of
///                                                    ; blanks right after an entry continues it
///                                                    ; (sendmail stores the blanks)
///     name         = 1*( octet except CTL / WSP / specials )   ; folded to lower case
///     rhs          = target-list                      ; AliasTargetParser; at least one target
///
/// Octets: no control character but TAB in an entry (a CR is refused: the file has CRLF line
/// ends), entries in UTF-8. An entry's value is stored in aliases.db exactly as sendmail stores
/// it: the text after the colon and its blanks, continuation lines appended without their LF.
public struct AliasesFile: Equatable, Sendable {
    /// One alias.
    public struct Entry: Equatable, Sendable {
        /// The name, folded to lower case (sendmail folds the keys of aliases.db).
        public var name: String
        public var targets: [AliasTarget]
        /// The right-hand side as sendmail stores it (without the NUL aliases.db adds).
        public var value: [UInt8]
        /// The line the entry starts on.
        public var line: Int
        /// The name's length as written (sendmail's statistics count it).
        public var nameLength: Int

        public init(name: String, targets: [AliasTarget], value: [UInt8], line: Int, nameLength: Int? = nil) {
            self.name = name
            self.targets = targets
            self.value = value
            self.line = line
            self.nameLength = nameLength ?? name.utf8.count
        }
    }

    public var entries: [Entry]

    /// Bounds: a source larger than this is refused whole (sendmail has none; ours is generous).
    public static let maxFileSize = 32 << 20
    /// One entry, continuation lines joined (sendmail's buffer is BUFSIZ, 8 KiB; ours is larger,
    /// never unbounded).
    public static let maxEntryLength = 64 << 10

    public init(entries: [Entry]) { self.entries = entries }

    /// The entry for `name` (folded), or nil.
    public func entry(_ name: String) -> Entry? {
        let folded = AliasBytes.fold(name)
        return entries.first { $0.name == folded }
    }

    /// Parses an aliases file. Collects every bad line and throws them together.
    public static func parse(_ source: [UInt8], file: String) throws -> AliasesFile {
        guard source.count <= maxFileSize else { throw AliasesError.tooLarge(path: file, size: source.count, limit: maxFileSize) }
        var reader = AliasesFileReader(file: file)
        let lines = source.split(separator: AliasBytes.newline, omittingEmptySubsequences: false)
        var index = 0
        while index < lines.count {
            var line = lines[index]
            let number = index + 1
            index += 1
            guard let first = line.first, first != AliasBytes.hash else {
                reader.finish() // an empty line or a comment
                continue
            }
            if AliasBytes.isWhitespace(first) {
                if reader.inEntry {
                    reader.continuation(line, number: number)
                } else if !line.allSatisfy(AliasBytes.isWhitespace) {
                    reader.continuation(line, number: number) // an error: it continues nothing
                }
                continue
            }
            // A first line ending in a backslash continues on the next physical line.
            var joined = Array(line)
            while joined.last == AliasBytes.backslash, index < lines.count, joined.count <= maxEntryLength {
                joined.removeLast()
                joined += lines[index]
                index += 1
            }
            line = joined[...]
            reader.finish()
            reader.start(line, number: number)
        }
        reader.finish()
        if reader.errors.count == 1 { throw reader.errors[0] }
        if !reader.errors.isEmpty { throw AliasesError.invalidSource(reader.errors) }
        return AliasesFile(entries: reader.entries)
    }
}

/// The state of `AliasesFile.parse` between lines: the entry being read, those done, errors.
struct AliasesFileReader {
    let file: String
    var entries: [AliasesFile.Entry] = []
    var errors: [AliasesError] = []
    var seen: [String: Int] = [:]
    /// The entry being read: its name and line, the value so far; nil after a bad first line
    /// (whose continuation lines are then skipped, as sendmail does).
    var current: (name: String, nameLength: Int, line: Int, value: [UInt8])?
    var skipping = false

    init(file: String) { self.file = file }

    var inEntry: Bool { current != nil || skipping }

    mutating func error(_ line: Int, _ reason: String) {
        errors.append(.syntax(file: file, line: line, reason: reason))
    }

    /// Why `line` cannot be part of an entry, or nil.
    func octetProblem(_ line: ArraySlice<UInt8>) -> String? {
        if let c = line.first(where: AliasBytes.isControl) {
            return c == 0x0D ? "control character 0x0D (CR): the file has CRLF line ends; convert it to LF"
                : "control character \(AliasBytes.hex(c))"
        }
        if String(validating: line, as: UTF8.self) == nil { return "not UTF-8" }
        return nil
    }

    mutating func start(_ line: ArraySlice<UInt8>, number: Int) {
        skipping = true
        if line.count > AliasesFile.maxEntryLength { return error(number, "line too long (limit \(AliasesFile.maxEntryLength) octets)") }
        if let problem = octetProblem(line) { return error(number, problem) }
        guard let colon = line.firstIndex(of: AliasBytes.colon) else { return error(number, "missing colon") }
        let name = AliasBytes.trimmed(line[..<colon])
        if name.isEmpty { return error(number, "empty alias name") }
        if let problem = AliasBytes.nameProblem(name) {
            let hint = name.contains(AliasBytes.at) ? " (cannot alias non-local names)" : ""
            return error(number, "bad alias name \(AliasBytes.string(name).debugDescription): \(problem)\(hint)")
        }
        var value = line[(colon + 1)...]
        while let first = value.first, AliasBytes.isWhitespace(first) { value = value.dropFirst() }
        current = (AliasBytes.fold(AliasBytes.string(name)), name.count, number, Array(value))
        skipping = false
    }

    mutating func continuation(_ line: ArraySlice<UInt8>, number: Int) {
        if skipping { return }
        guard current != nil else {
            return error(number, "line starts with white space but continues no alias (after a comment or blank line?)")
        }
        if let problem = octetProblem(line) {
            error(number, problem)
            current = nil
            skipping = true
            return
        }
        current?.value += line
        if let count = current?.value.count, count > AliasesFile.maxEntryLength {
            error(number, "alias too long (limit \(AliasesFile.maxEntryLength) octets)")
            current = nil
            skipping = true
        }
    }

    /// Ends the entry being read: checks its targets and its name's uniqueness.
    mutating func finish() {
        skipping = false
        guard let entry = current else { return }
        current = nil
        let targets: [AliasTarget]
        do {
            targets = try AliasTargetParser.parseList(entry.value)
        } catch {
            return self.error(entry.line, "alias \(entry.name): \(error.reason)")
        }
        if targets.isEmpty { return error(entry.line, "alias \(entry.name): empty target list (missing value for alias)") }
        if let first = seen[entry.name] {
            return error(entry.line, "alias \(entry.name): duplicate alias name (first on line \(first))")
        }
        seen[entry.name] = entry.line
        entries.append(AliasesFile.Entry(name: entry.name, targets: targets, value: entry.value, line: entry.line,
                                         nameLength: entry.nameLength))
    }
}
