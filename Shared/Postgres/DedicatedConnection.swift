import Logging
import NIOSSL
import PostgresNIO

/// A connection of its own, outside the pool, for what must hold one connection for a long
/// time (a POP3 session's mailbox lock, the drac change feed). The server is asked for TCP
/// keepalives (`keepaliveSeconds` idle, then 3 probes 10 s apart), so it notices a host that
/// died without closing the connection in about a minute.
public struct DedicatedConnection: Sendable {
    let configuration: PostgresConnection.Configuration
    public let timeout: Duration
    let logger: Logger

    static let keepaliveSeconds = 30

    public init(settings: DatabaseSettings, applicationName: String, logger: Logger) throws {
        var configuration: PostgresConnection.Configuration
        if settings.host.hasPrefix("/") {
            configuration = .init(unixSocketPath: "\(settings.host)/.s.PGSQL.\(settings.port)", username: settings.user,
                                  password: settings.password, database: settings.database)
        } else {
            let tls: PostgresConnection.Configuration.TLS =
                settings.requireTLS ? .require(try NIOSSLContext(configuration: .makeClientConfiguration())) : .disable
            configuration = .init(host: settings.host, port: settings.port, username: settings.user, password: settings.password,
                                  database: settings.database, tls: tls)
        }
        configuration.options.connectTimeout = .milliseconds(Int64(settings.timeout / .milliseconds(1)))
        configuration.options.additionalStartupParameters = [
            ("tcp_keepalives_idle", "\(Self.keepaliveSeconds)"), ("tcp_keepalives_interval", "10"), ("tcp_keepalives_count", "3"),
            ("application_name", applicationName),
        ]
        self.configuration = configuration
        self.timeout = settings.timeout
        self.logger = logger
    }

    /// A new connection within `timeout` (one that comes later is closed).
    public func connect(id: Int) async throws -> PostgresConnection {
        let configuration = self.configuration
        let logger = self.logger
        return try await Deadline.run(timeout, late: { Self.close($0) }) {
            try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger)
        }
    }

    public static func close(_ connection: PostgresConnection) {
        // The connection must live until it is closed (PostgresNIO checks that it is).
        connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }
}
