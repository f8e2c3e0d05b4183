import Logging
import PostgresNIO
import Users

/// Users from the table every host shares, as Dovecot's SQL passdb reads them:
/// `mail_users (name text PRIMARY KEY, password text NOT NULL)`, the password in the
/// passwd-file's `{SCHEME}hash` form (SHA512-CRYPT, BLF-CRYPT, CRYPT, PLAIN for APOP). One
/// query per login, with a bound parameter and the database's deadline; a row the passwd-file
/// would refuse is logged (escaped) and counts as no user.
public final class PostgresUsers: UserDirectory {
    let database: SharedDatabase
    let logger: Logger

    /// Longer names are not looked up (they are no user).
    static let maxName = 256

    public init(database: SharedDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// Whether `name` can be a login's name at all (others are never looked up).
    static func isLoginName(_ name: String) -> Bool {
        name.utf8.count <= maxName && SASL.isUserName(name)
    }

    public func user(_ name: String) async throws -> PasswdFile.User? {
        guard Self.isLoginName(name) else { return nil }
        let password = try await database.call("users lookup") { client -> String? in
            let rows = try await client.query("SELECT password FROM mail_users WHERE name = \(name)")
            for try await password in rows.decode(String.self) { return password }
            return nil
        }
        guard let password else { return nil }
        switch PasswdFile.user(name: name, password: password, source: "table mail_users") {
        case let .success(user):
            return user
        case let .failure(error):
            logger.error("users: \(Self.escaped(name)): \(Self.escaped(error.reason))")
            return nil
        }
    }

    /// Control characters as \xNN, so a row cannot forge a log line.
    static func escaped(_ text: String) -> String {
        text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "\\x" + (($0.value < 16 ? "0" : "") + String($0.value, radix: 16, uppercase: true)) : String($0) }.joined()
    }
}
