/// What a map's exact-bytes lookups are read through: a Berkeley DB file (`SendmailMap`) or
/// the tables several hosts share (MailstackPostgres's `PostgresMap`).
public protocol MapSource: Sendable {
    /// The value stored under exactly `key`, or nil; throws when the map cannot be read now.
    func lookup(bytes key: [UInt8]) throws -> [UInt8]?
    /// What errors and logs call the map: its file, or its table.
    var sourceName: String { get }
    /// How many times its contents were (re)loaded in this process: what lookups see may have
    /// changed since a lookup made at a lower count (relay-policy's verdicts carry the sum).
    var loads: Int64 { get }
}

extension SendmailMap: MapSource {
    public var sourceName: String { path }
}
