import MailstackMaps

/// A read-only aliases.db for lookups, as sendmail reads one: the name folded to lower case (and
/// `postmaster` in any case as `postmaster`), tried first with the trailing NUL sendmail's
/// newaliases stores and then without it (a database built with an explicit `hash:` class, or
/// by `makemap hash` without -N, has none). A database replaced by newaliases (a rename) is
/// picked up by the next lookup after `checkInterval` (SendmailMap).
public final class AliasesDatabase: Sendable {
    let map: any MapSource

    /// `path` is the aliases file (`/etc/mail/aliases`) or the database (`/etc/mail/aliases.db`).
    /// `optional`: a database that does not exist has no aliases, instead of failing.
    public init(path: String, checkInterval: Duration = .seconds(1), optional: Bool = false) {
        map = SendmailMap(path: path, kind: .hash, foldCase: false, nulTerminated: false, checkInterval: checkInterval, optional: optional)
    }

    /// The same records read through another source (the shared tables: newaliases --pgsql).
    public init(source: any MapSource) { map = source }

    /// The database file (or table).
    public var path: String { map.sourceName }

    /// How many times the records were (re)loaded (`MapSource.loads`).
    public var loads: Int64 { map.loads }

    /// The right-hand side stored for `name`, or nil. Throws `MapError` when the database
    /// cannot be read (sendmail then queues the message: a temporary failure).
    public func value(for name: String) throws -> [UInt8]? {
        let key = Array(AliasBytes.fold(name).utf8)
        if var value = try map.lookup(bytes: key + [0]) {
            if value.last == 0 { value.removeLast() }
            return value
        }
        return try map.lookup(bytes: key)
    }

    /// The targets of `name`, or nil when it is no alias. A stored value that does not parse
    /// throws `AliasesError.badValue` (never a guess).
    public func targets(for name: String) throws -> [AliasTarget]? {
        guard let value = try value(for: name) else { return nil }
        guard value.count <= AliasesFile.maxEntryLength else {
            throw AliasesError.badValue(database: path, name: AliasBytes.fold(name), reason: "value longer than \(AliasesFile.maxEntryLength) octets")
        }
        do {
            return try AliasTargetParser.parseList(value)
        } catch {
            throw AliasesError.badValue(database: path, name: AliasBytes.fold(name), reason: error.reason)
        }
    }

    /// Whether the `@` record is there: the database was written to its end (newaliases adds
    /// it last; sendmail waits for it before trusting a database).
    public func isComplete() throws -> Bool {
        try map.lookup(bytes: NewAliases.completeKey) != nil || map.lookup(bytes: [UInt8(ascii: "@")]) != nil
    }
}
