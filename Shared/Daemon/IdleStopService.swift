import Listeners
import Logging
import ServiceLifecycle

/// Ends a service systemd started on demand once its `IdleTracker` has seen no connection for
/// ipc.max_idle: it returns, and `Daemon.run` shuts the group down gracefully, as at SIGTERM.
struct IdleStopService: Service {
    let tracker: IdleTracker
    let service: String
    let logger: Logger

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await tracker.waitUntilIdle() }
        } catch {
            return // stopping for another reason
        }
        let seconds = Double(tracker.maxIdle.nanoseconds) / 1e9
        logger.notice("\(service): no connection for \(seconds) s; stopping until systemd's socket has the next one")
    }
}
