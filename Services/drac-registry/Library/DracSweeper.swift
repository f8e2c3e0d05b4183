import Logging
import ServiceLifecycle

/// Deletes expired entries every `interval` until shutdown. Expiry is exact at lookup anyway;
/// the sweep keeps the database small.
public struct DracSweeper: Service {
    let registry: any DracBackend
    let interval: Duration
    let logger: Logger

    public init(registry: any DracBackend, interval: Duration, logger: Logger) {
        self.registry = registry
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        // Sleeping is interrupted by shutdown: a sweep interval never delays a stop.
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: interval)
                do {
                    let removed = try await registry.sweep()
                    if removed > 0 { logger.info("drac sweep: \(removed) expired entries removed") }
                } catch {
                    logger.error("drac sweep failed: \(error)")
                }
            }
        }
    }
}
