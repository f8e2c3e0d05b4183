#if canImport(Glibc)
import Glibc
#endif
import MailstackConfig

/// How a service reaches the shared PostgreSQL database (the `pgsql.*` keys), with the password
/// read from a file only the service may read, or from systemd's credentials; never from the
/// command line or the environment.
public struct DatabaseSettings: Sendable {
    public var host: String
    public var port: Int
    public var database: String
    public var user: String
    public var password: String?
    public var requireTLS: Bool
    public var timeout: Duration
    public var maxConnections: Int

    public init(host: String, port: Int, database: String, user: String, password: String?, requireTLS: Bool = false,
                timeout: Duration = .seconds(2), maxConnections: Int = 4) {
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.password = password
        self.requireTLS = requireTLS
        self.timeout = timeout
        self.maxConnections = maxConnections
    }

    /// The settings of `configuration`, the password read as `pgsql.password_file` says.
    public init(_ configuration: MailstackConfiguration, environment: [String: String]) throws {
        self.init(host: configuration.pgsqlHost, port: configuration.pgsqlPort, database: configuration.pgsqlDatabase,
                  user: configuration.pgsqlUser,
                  password: try Self.password(file: configuration.pgsqlPasswordFile, environment: environment),
                  requireTLS: configuration.pgsqlRequireTLS, timeout: configuration.pgsqlTimeout,
                  maxConnections: configuration.pgsqlMaxConnections)
    }

    /// The longest password file read: a password, not a document.
    static let maxPasswordFile = 4096

    /// The first line of `file`; with no file, `$CREDENTIALS_DIRECTORY/pgsql-password` when
    /// systemd passed credentials and it is there; else nil (no password). A file whose mode
    /// gives others any access is refused: the password would not be the service's alone.
    public static func password(file: String, environment: [String: String]) throws -> String? {
        var path = file
        if path.isEmpty {
            guard let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty else { return nil }
            path = directory + "/pgsql-password"
            guard access(path, F_OK) == 0 else { return nil }
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw PasswordFileError(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw PasswordFileError(path: path, reason: "not a regular file")
        }
        if info.st_mode & 0o007 != 0 {
            throw PasswordFileError(path: path, reason: "readable by others (mode \(String(info.st_mode & 0o777, radix: 8))): chmod o-rwx")
        }
        var bytes = [UInt8](repeating: 0, count: maxPasswordFile + 1)
        let count = read(fd, &bytes, bytes.count)
        guard count >= 0 else { throw PasswordFileError(path: path, reason: String(cString: strerror(errno))) }
        guard count <= maxPasswordFile else { throw PasswordFileError(path: path, reason: "longer than \(maxPasswordFile) octets") }
        let firstLine = bytes[..<count].split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).first ?? []
        let line = firstLine.last == UInt8(ascii: "\r") ? firstLine.dropLast() : firstLine[...]
        guard !line.contains(where: { $0 < 0x20 || $0 == 0x7f }) else {
            throw PasswordFileError(path: path, reason: "the password has a control character")
        }
        return String(decoding: line, as: UTF8.self)
    }
}

/// A password file that cannot be used; names the file and why (never its contents).
public struct PasswordFileError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "pgsql.password_file: \(path): \(reason)" }
}
