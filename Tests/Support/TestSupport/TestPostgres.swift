import Accounts
import Foundation

/// A throw-away PostgreSQL 15 server for a test: Debian's binaries (/usr/lib/postgresql/15/bin)
/// on a cluster of its own in a temporary directory, listening on `host` at a free port and on
/// a Unix socket in that directory, never the system's cluster or service. Started as the
/// `postgres` user when the tests run as root (initdb refuses root). Its superuser `mailstack`
/// has a password (scram-sha-256), written to `passwordFile` (mode 0600) for the services.
public final class TestPostgres: @unchecked Sendable {
    public static let bin = "/usr/lib/postgresql/15/bin"
    public let directory: String
    public let host: String
    public let port: Int
    public let password = "pw-\(UInt64.random(in: 0...UInt64.max))"
    public var passwordFile: String { directory + "/service-password" }
    var data: String { directory + "/data" }

    public static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: bin + "/initdb") }

    /// `wrapper` prefixes every server command (`ip netns exec NS` puts it in a namespace).
    let wrapper: [String]

    public init(host: String = "127.0.0.1", port: Int? = nil, wrapper: [String] = []) throws {
        directory = try TestSupport.temporaryDirectory("pg")
        self.host = host
        self.port = port ?? TestSupport.freePorts()
        self.wrapper = wrapper
        let owner = getuid() == 0 ? SystemUser.named("postgres") : nil
        if let owner { chown(directory, owner.uid, owner.gid) }
        try write(directory + "/superuser-password", password, mode: 0o600, owner: owner)
        try write(passwordFile, password + "\n", mode: 0o600, owner: nil)
        try check(asServer([Self.bin + "/initdb", "-D", data, "-U", "mailstack", "--auth=scram-sha-256", "--pwfile=\(directory)/superuser-password",
                            "-E", "UTF8", "--no-sync", "--locale=C"]), "initdb")
        try start()
        try check(TestSupport.run(wrapper + [Self.bin + "/psql", "-h", directory, "-p", "\(self.port)", "-U", "mailstack", "-d", "postgres",
                                             "-v", "ON_ERROR_STOP=1", "-c", "CREATE DATABASE mailstack"],
                                  environment: ["PGPASSWORD": password, "PATH": "/usr/bin:/bin"]), "createdb")
    }

    /// Starts the server and waits until it accepts connections.
    public func start() throws {
        try check(asServer([Self.bin + "/pg_ctl", "-D", data, "-l", directory + "/log", "-w", "-t", "60",
                            "-o", "-k \(directory) -c listen_addresses=\(host) -p \(port) -c fsync=off", "start"]), "pg_ctl start")
    }

    /// Stops the server (fast: open sessions are ended) and waits until it is gone.
    public func stop() throws {
        try check(asServer([Self.bin + "/pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "60", "stop"]), "pg_ctl stop")
    }

    /// Runs SQL as the superuser on the database `mailstack`; psql's unaligned output.
    @discardableResult
    public func sql(_ statement: String) throws -> String {
        let result = try TestSupport.run(wrapper + [Self.bin + "/psql", "-h", directory, "-p", "\(port)", "-U", "mailstack", "-d", "mailstack",
                                                    "-v", "ON_ERROR_STOP=1", "-qAt", "-c", statement],
                                         environment: ["PGPASSWORD": password, "PATH": "/usr/bin:/bin"])
        try check(result, "psql")
        return result.stdout
    }

    /// `--set` arguments that point a service at this server.
    public var settings: [String] {
        ["--set", "pgsql.host=\(host)", "--set", "pgsql.port=\(port)", "--set", "pgsql.database=mailstack",
         "--set", "pgsql.user=mailstack", "--set", "pgsql.password_file=\(passwordFile)"]
    }

    func asServer(_ argv: [String]) throws -> TestSupport.Result {
        let user = getuid() == 0 ? ["/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"] : []
        return try TestSupport.run(wrapper + user + argv, environment: ["PATH": "/usr/bin:/bin", "LANG": "C"])
    }

    func check(_ result: TestSupport.Result, _ what: String) throws {
        guard result.status == 0 else {
            let log = (try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? ""
            throw Failure(description: "\(what) exited \(result.status): \(result.stderr) \(result.stdout) \(log.suffix(2000))")
        }
    }

    func write(_ path: String, _ text: String, mode: mode_t, owner: SystemUser?) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: Int(mode)]) else {
            throw Failure(description: "cannot write \(path)")
        }
        if let owner { chown(path, owner.uid, owner.gid) }
    }

    public struct Failure: Error, CustomStringConvertible { public var description: String }

    deinit {
        _ = try? asServer([Self.bin + "/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }
}
