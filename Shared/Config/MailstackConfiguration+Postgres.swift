import Foundation

/// The PostgreSQL database several hosts share (issue 18): drac-registry's `drac` table today.
extension MailstackConfiguration {
    public var dracBackend: String { values.string("drac.backend") }
    public var dracCacheTTL: Duration { values.duration("drac.cache_ttl") }
    public var pop3MailboxLock: String { values.string("pop3.mailbox_lock") }
    public var pop3Users: String { values.string("pop3.users") }
    public var mapsBackend: String { values.string("maps.backend") }
    public var mapsMaxStale: Duration { values.duration("maps.max_stale") }
    public var pgsqlHost: String { values.string("pgsql.host") }
    public var pgsqlPort: Int { values.int("pgsql.port") }
    public var pgsqlDatabase: String { values.string("pgsql.database") }
    public var pgsqlUser: String { values.string("pgsql.user") }
    public var pgsqlPasswordFile: String { values.string("pgsql.password_file") }
    public var pgsqlRequireTLS: Bool { values.string("pgsql.tls") == "require" }
    public var pgsqlTimeout: Duration { values.duration("pgsql.timeout") }
    public var pgsqlMaxConnections: Int { values.int("pgsql.max_connections") }

    func validatePostgres(_ fail: (String, String) -> ConfigError) throws {
        if !["file", "pgsql"].contains(dracBackend) { throw fail("drac.backend", "must be file or pgsql") }
        if !["file", "pgsql"].contains(mapsBackend) { throw fail("maps.backend", "must be file or pgsql") }
        if mapsMaxStale <= .zero { throw fail("maps.max_stale", "must be positive") }
        if !["file", "pgsql"].contains(pop3Users) { throw fail("pop3.users", "must be file or pgsql") }
        if !["local", "pgsql"].contains(pop3MailboxLock) { throw fail("pop3.mailbox_lock", "must be local or pgsql") }
        if dracCacheTTL < .zero { throw fail("drac.cache_ttl", "must not be negative") }
        if !["disable", "require"].contains(values.string("pgsql.tls")) { throw fail("pgsql.tls", "must be disable or require") }
        if !(1...65535).contains(pgsqlPort) { throw fail("pgsql.port", "must be a port number") }
        if pgsqlTimeout <= .zero { throw fail("pgsql.timeout", "must be positive") }
        if !(1...100).contains(pgsqlMaxConnections) { throw fail("pgsql.max_connections", "must be between 1 and 100") }
        if pgsqlHost.isEmpty { throw fail("pgsql.host", "must name a host or a socket directory") }
        for name in ["pgsql.database", "pgsql.user"] where values.string(name).isEmpty || values.string(name).contains(where: { $0.isASCII && ($0.asciiValue! < 0x20 || $0.asciiValue! == 0x7f) }) {
            throw fail(name, "must be a non-empty name without control characters")
        }
        if !pgsqlPasswordFile.isEmpty && !pgsqlPasswordFile.hasPrefix("/") { throw fail("pgsql.password_file", "must be an absolute path") }
    }
}
