#if canImport(Glibc)
import Glibc
#endif

/// sendmail's `makemap`: text maps in, Berkeley DB files out, with sendmail's meaning of each
/// flag, so a file made here is read by sendmail and a file made by sendmail is read here.
///
/// Source format (as makemap reads it): one entry a line, the key up to the first space or tab
/// (or the `-t` delimiter), then a run of white space, then the value to the end of the line,
/// verbatim. Empty lines and lines starting with `#` are skipped. A line starting with white
/// space is a syntax error.
///
/// Unlike sendmail's makemap, which writes the good lines and exits 65 on a bad one, a source
/// with any bad line writes nothing: the map in place stays as it was.
public enum MakeMap {
    public struct Options: Sendable, Equatable {
        /// Lowercase keys (sendmail's default; `-f` turns it off).
        public var foldCase = true
        /// Store a NUL after key and value (`-N`).
        public var nulTerminate = false
        /// Allow entries with an empty value (`-e`).
        public var allowEmptyValue = false
        /// A later duplicate key replaces the earlier one instead of being an error (`-r`).
        public var replaceDuplicates = false
        /// Add to the existing map instead of replacing it (`-o`).
        public var append = false
        /// Key/value delimiter instead of white space (`-t`).
        public var delimiter: UInt8?

        public init() {}
    }

    public struct Entry: Equatable, Sendable {
        public var key: [UInt8]
        public var value: [UInt8]
        public var line: Int

        public init(key: [UInt8], value: [UInt8], line: Int) {
            self.key = key
            self.value = value
            self.line = line
        }
    }

    /// Bounded input: a map source line longer than this is refused (sendmail's buffer is 2048
    /// minus the terminator; we allow more, not unbounded).
    public static let maxLine = 64 * 1024

    /// Parses a source. Collects every bad line and throws them together.
    public static func parse(_ source: [UInt8], file: String, options: Options) throws -> [Entry] {
        var entries: [Entry] = []
        var index: [[UInt8]: Int] = [:]
        var errors: [MapError] = []
        var lineNumber = 0
        for rawLine in source.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = Array(rawLine)
            if line.isEmpty || line[0] == UInt8(ascii: "#") { continue }
            if line.count > maxLine {
                errors.append(.syntax(file: file, line: lineNumber, reason: "line too long (\(line.count) octets, limit \(maxLine))"))
                continue
            }
            let isDelimiter: (UInt8) -> Bool = { byte in
                if let d = options.delimiter { return byte == d }
                return byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
            }
            if options.delimiter == nil, isDelimiter(line[0]) {
                errors.append(.syntax(file: file, line: lineNumber, reason: "syntax error (leading space)"))
                continue
            }
            let keyEnd = line.firstIndex(where: isDelimiter) ?? line.count
            var key = Array(line[..<keyEnd])
            var valueStart = keyEnd
            if options.delimiter != nil {
                if valueStart < line.count { valueStart += 1 }
            } else {
                while valueStart < line.count, isDelimiter(line[valueStart]) { valueStart += 1 }
            }
            var value = Array(line[valueStart...])
            if value.isEmpty, !options.allowEmptyValue {
                errors.append(.syntax(file: file, line: lineNumber, reason: "no RHS for LHS \(String(decoding: key, as: UTF8.self))"))
                continue
            }
            if options.foldCase { key = key.map(asciiLower) }
            if options.nulTerminate {
                key.append(0)
                value.append(0)
            }
            if let earlier = index[key] {
                if options.replaceDuplicates {
                    entries[earlier] = Entry(key: key, value: value, line: lineNumber)
                } else {
                    let shown = String(decoding: key.filter { $0 != 0 }, as: UTF8.self)
                    errors.append(.syntax(file: file, line: lineNumber,
                                          reason: "key \(shown): duplicate key (first on line \(entries[earlier].line))"))
                }
                continue
            }
            index[key] = entries.count
            entries.append(Entry(key: key, value: value, line: lineNumber))
        }
        if errors.count == 1 { throw errors[0] }
        if !errors.isEmpty { throw MapError.invalidSource(errors) }
        return entries
    }

    /// Writes `entries` to the map at `path` (sendmail's naming: `path` is the map name, the
    /// file is `path.db`). The new file is written beside the old one, synced and renamed over
    /// it, so readers see either the old map or the whole new one. A new map file gets
    /// `permissions`; a replaced one keeps the mode of the file it replaces.
    public static func write(_ entries: [Entry], to path: String, kind: BerkeleyDB.Kind, options: Options,
                             permissions: Int32 = 0o644) throws {
        let target = databasePath(path)
        let temporary = target + ".tmp.\(getpid())"
        unlink(temporary)
        do {
            let db = try BerkeleyDB(path: temporary, kind: kind, mode: .create, permissions: permissions)
            if options.append, let old = try? BerkeleyDB(path: target, kind: kind, mode: .readOnly) {
                for (key, value) in try old.entries() { try db.put(key, value) }
            }
            for entry in entries {
                guard try db.put(entry.key, entry.value, overwrite: options.replaceDuplicates || options.append) else {
                    throw MapError.syntax(file: path, line: entry.line,
                                          reason: "key \(String(decoding: entry.key, as: UTF8.self)): duplicate key")
                }
            }
            try db.sync()
            try db.close()
            copyMode(from: target, to: temporary)
            guard rename(temporary, target) == 0 else {
                throw MapError.database(path: target, operation: "rename", code: errno, message: String(cString: strerror(errno)))
            }
            syncDirectory(of: target)
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// The map's entries as text lines (`makemap -u`): key, a tab, value.
    public static func dump(_ path: String, kind: BerkeleyDB.Kind, options: Options) throws -> [UInt8] {
        let db = try BerkeleyDB(path: databasePath(path), kind: kind, mode: .readOnly)
        var out: [UInt8] = []
        for (key, value) in try db.entries() {
            out += options.nulTerminate && key.last == 0 ? key.dropLast() : key[...]
            out.append(UInt8(ascii: "\t"))
            out += options.nulTerminate && value.last == 0 ? value.dropLast() : value[...]
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    /// `access` -> `access.db`; a name that already ends in `.db` is kept (as sendmail does).
    public static func databasePath(_ path: String) -> String {
        path.hasSuffix(".db") ? path : path + ".db"
    }

    public static func asciiLower(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }

    static func copyMode(from existing: String, to new: String) {
        var st = stat()
        if stat(existing, &st) == 0 { chmod(new, st.st_mode & 0o7777) }
    }

    static func syncDirectory(of path: String) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let fd = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}
