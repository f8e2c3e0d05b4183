import Logging
import NIOSSL
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The database is down, unreachable, too slow or refused the call: the caller's answer is
/// temporary (4xx, `-ERR [SYS/TEMP]`), never permanent and never "allowed".
public struct DatabaseUnavailable: Error, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "database unavailable: \(reason)" }
}

/// One service's connections to the shared PostgreSQL database: a pool that reconnects by
/// itself (run it as a service), and `call`, which bounds every use with `settings.timeout`
/// (the wait for a connection included) and turns every failure into `DatabaseUnavailable`.
///
/// A call that finds the database unreachable (no answer within the deadline, a connection
/// refused, lost or closed by a server shutting down) opens an outage of `retryAfter`: calls
/// in it fail at once instead of each waiting out its deadline, so while the database is down
/// clients get their 4xx without delay; the first call after it tries the database again.
/// An error the server answers (a missing table, a refused password) opens none.
public final class SharedDatabase: Service, Sendable {
    public let client: PostgresClient
    public let timeout: Duration
    public let retryAfter: Duration
    let logger: Logger
    /// Until when calls fail at once (nil: no outage).
    let outage = Mutex<ContinuousClock.Instant?>(nil)

    public init(settings: DatabaseSettings, retryAfter: Duration = .seconds(1), logger: Logger) {
        var configuration: PostgresClient.Configuration
        let tls: PostgresClient.Configuration.TLS = settings.requireTLS ? .require(.makeClientConfiguration()) : .disable
        if settings.host.hasPrefix("/") {
            configuration = .init(unixSocketPath: "\(settings.host)/.s.PGSQL.\(settings.port)", username: settings.user,
                                  password: settings.password, database: settings.database)
        } else {
            configuration = .init(host: settings.host, port: settings.port, username: settings.user, password: settings.password,
                                  database: settings.database, tls: tls)
        }
        configuration.options.connectTimeout = settings.timeout
        configuration.options.maximumConnections = settings.maxConnections
        configuration.options.minimumConnections = 1
        configuration.options.keepAliveBehavior = .init(frequency: .seconds(15))
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        timeout = settings.timeout
        self.retryAfter = retryAfter
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.client.run() }
    }

    /// Runs `body` against the pool within `timeout`. Past the deadline the caller gets
    /// `DatabaseUnavailable` at once; the abandoned call is cancelled.
    public func call<T: Sendable>(_ what: String, _ body: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        if let until = outage.withLock({ $0 }), ContinuousClock.now < until {
            throw DatabaseUnavailable("\(what): the database was unreachable a moment ago (tried again after \(retryAfter))")
        }
        do {
            let value = try await Deadline.run(timeout) { try await body(self.client) }
            outage.withLock { $0 = nil }
            return value
        } catch let error as DatabaseUnavailable {
            throw error
        } catch is Deadline.Passed {
            startOutage()
            throw DatabaseUnavailable("\(what): no answer within \(timeout)")
        } catch let error as PSQLError {
            if Self.isUnreachable(error) { startOutage() }
            throw DatabaseUnavailable("\(what): \(Self.describe(error))")
        } catch {
            throw DatabaseUnavailable("\(what): \(error)")
        }
    }

    func startOutage() {
        let until = ContinuousClock.now + retryAfter
        outage.withLock { $0 = until }
    }

    /// The database cannot be reached (rather than answering with an error of its own):
    /// no server response at all, or SQLSTATE class 08 (connection exception) or 57P
    /// (the server shutting down, starting up, or gone).
    static func isUnreachable(_ error: PSQLError) -> Bool {
        guard let state = error.serverInfo?[.sqlState] else { return true }
        return state.hasPrefix("08") || state.hasPrefix("57P")
    }

    /// An error in one line; a PSQLError as its code and the server's message, without the
    /// query text (PSQLError's own description says nothing, by design).
    public static func describe(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let message = error.serverInfo?[.message] {
            return "\(error.code): \(message)"
        }
        if let underlying = error.underlying { return "\(error.code): \(underlying)" }
        return "\(error.code)"
    }
}

/// A strict deadline on async work: the caller resumes at the deadline even if the work does
/// not react to cancellation (a call stuck on a silent server), which a task group cannot give.
public enum Deadline {
    public struct Passed: Error {}

    /// `late` gets a result that came after the deadline (a connection to close).
    public static func run<T: Sendable>(_ timeout: Duration, late: @escaping @Sendable (T) -> Void = { _ in },
                                        _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let race = Race(continuation)
            race.start(
                Task {
                    do {
                        let value = try await work()
                        if !race.finish(.success(value)) { late(value) }
                    } catch {
                        race.finish(.failure(error))
                    }
                },
                Task {
                    try? await Task.sleep(for: timeout)
                    race.finish(.failure(Passed()))
                })
        }
    }

    /// The first of the work and the timer to finish resumes the caller and cancels the other.
    final class Race<T: Sendable>: Sendable {
        struct State {
            var continuation: CheckedContinuation<T, Error>?
            var tasks: [Task<Void, Never>] = []
        }
        let state: Mutex<State>

        init(_ continuation: CheckedContinuation<T, Error>) { state = Mutex(State(continuation: continuation)) }

        func start(_ worker: Task<Void, Never>, _ timer: Task<Void, Never>) {
            let finished = state.withLock { s in
                s.tasks = [worker, timer]
                return s.continuation == nil
            }
            if finished { worker.cancel(); timer.cancel() }
        }

        /// Whether this result was the one the caller got.
        @discardableResult
        func finish(_ result: Result<T, Error>) -> Bool {
            let (continuation, tasks) = state.withLock { s in
                defer { s.continuation = nil }
                return (s.continuation, s.tasks)
            }
            guard let continuation else { return false }
            continuation.resume(with: result)
            tasks.forEach { $0.cancel() }
            return true
        }
    }
}
