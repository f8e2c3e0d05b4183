#if canImport(Glibc)
import Glibc
#endif

/// Where the queue's time comes from: the epoch second now (arrival, next attempt, warn and
/// return ages, report dates) and the wait between two looks at the deferred messages. The
/// daemon uses `system`; tests give a clock they move, so retries, warnings and returns are
/// tested in no more wall-clock time than the work takes.
public struct QueueClock: Sendable {
    /// Epoch seconds.
    public var now: @Sendable () -> Int64
    /// Returns when the deferred messages should be looked at again; throws when cancelled.
    public var tick: @Sendable () async throws -> Void

    public init(now: @escaping @Sendable () -> Int64, tick: @escaping @Sendable () async throws -> Void) {
        self.now = now
        self.tick = tick
    }

    /// The real time, looked at four times a second (a due message waits at most that long).
    public static let system = QueueClock(now: { Int64(time(nil)) }, tick: { try await Task.sleep(for: .milliseconds(250)) })
}
