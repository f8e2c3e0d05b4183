#if canImport(Glibc)
import Glibc
#endif
import MailstackMaps

/// sendmail's newaliases (`sendmail -bi`): the aliases file in, `aliases.db` out, in the layout
/// sendmail's default configuration (`O AliasFile=/etc/mail/aliases`, no map class) writes and
/// reads, checked against Debian's sendmail 8.17 (Tests/AliasesTests):
///
/// * a Berkeley DB hash file named `<aliases>.db`;
/// * one record per alias: key the name folded to lower case, value the right-hand side as
///   written (continuation lines appended without their LF, the blanks after the colon
///   dropped), each followed by one NUL octet (sendmail's implicit alias class sets -N);
/// * last, the record `@\0` -> `@\0`, which tells readers the build is complete.
///
/// Unlike sendmail, which stores the good lines and reports the bad ones, a file with any bad
/// line (or a name twice, where sendmail lets the last win with a warning) writes nothing: the
/// database in place stays as it was. The new file is written beside the old one, synced and
/// renamed over it (MakeMap.write), so a reader sees the old aliases or all the new ones.
public enum NewAliases {
    /// sendmail's summary: aliases stored, the longest value, names and values together.
    public struct Statistics: Equatable, Sendable {
        public var aliases: Int
        public var longest: Int
        public var total: Int

        public init(aliases: Int, longest: Int, total: Int) {
            self.aliases = aliases
            self.longest = longest
            self.total = total
        }

        /// `/etc/mail/aliases: 5 aliases, longest 20 bytes, 100 bytes total`, as sendmail words it.
        public func summary(for file: String) -> String {
            "\(file): \(aliases) aliases, longest \(longest) bytes, \(total) bytes total"
        }
    }

    /// The key both sendmail and we write last, and that readers look for (aliaswait).
    public static let completeKey: [UInt8] = [UInt8(ascii: "@"), 0]

    /// The records of aliases.db for `file`, the `@` record last.
    public static func records(_ file: AliasesFile) -> [MakeMap.Entry] {
        file.entries.map { MakeMap.Entry(key: Array($0.name.utf8) + [0], value: $0.value + [0], line: $0.line) }
            + [MakeMap.Entry(key: completeKey, value: completeKey, line: 0)]
    }

    public static func statistics(_ file: AliasesFile) -> Statistics {
        Statistics(aliases: file.entries.count, longest: file.entries.map(\.value.count).max() ?? 0,
                   total: file.entries.reduce(0) { $0 + $1.nameLength + $1.value.count })
    }

    /// Writes `file` to `database` (normally `<aliases>.db`) atomically. A new database gets
    /// the read bits of `permissions` (the source file's, as Postfix's postalias does); a
    /// replaced one keeps its mode.
    public static func write(_ file: AliasesFile, to database: String, permissions: Int32 = 0o644) throws {
        try MakeMap.write(records(file), to: database, kind: .hash, options: MakeMap.Options(), permissions: permissions & 0o644)
    }

    /// Reads the aliases file at `source` (at most `AliasesFile.maxFileSize` octets) and parses
    /// it (newaliases --pgsql loads the result into the shared tables).
    public static func read(source: String) throws -> AliasesFile {
        try AliasesFile.parse(try BoundedFile.read(source, limit: AliasesFile.maxFileSize), file: source)
    }

    /// Reads the aliases file at `source` (at most `AliasesFile.maxFileSize` octets), parses it
    /// and writes `<source>.db`. Throws `AliasesError` for the source, `MapError` for the database.
    @discardableResult
    public static func build(source: String) throws -> Statistics {
        let file = try AliasesFile.parse(try BoundedFile.read(source, limit: AliasesFile.maxFileSize), file: source)
        try write(file, to: MakeMap.databasePath(source), permissions: BoundedFile.permissions(source) ?? 0o644)
        return statistics(file)
    }
}
