import Logging
import ServiceLifecycle

/// Sends WATCHDOG=1 at half the interval systemd asks for (WATCHDOG_USEC), as sd_watchdog_enabled(3)
/// recommends, until shutdown. Does nothing when no watchdog is configured.
///
/// `healthy` is asked before each ping: a service whose loop is stuck stops pinging and systemd
/// restarts it.
public struct WatchdogService: Service {
    let interval: Duration?
    let healthy: @Sendable () async -> Bool
    let logger: Logger

    public init(logger: Logger, interval: Duration? = SystemdNotifier.watchdogInterval,
                healthy: @escaping @Sendable () async -> Bool = { true }) {
        self.interval = interval
        self.healthy = healthy
        self.logger = logger
    }

    public func run() async throws {
        guard let interval else {
            // No watchdog asked for: stay until shutdown, so the service group sees no early exit.
            try? await gracefulShutdown()
            return
        }
        logger.debug("watchdog every \(interval / 2)")
        try? await cancelWhenGracefulShutdown {
            while true {
                if await healthy() { SystemdNotifier.watchdog() }
                try await Task.sleep(for: interval / 2)
            }
        }
    }
}
