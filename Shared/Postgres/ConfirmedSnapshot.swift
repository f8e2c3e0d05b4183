import ServiceLifecycle
import Synchronization

/// What a service keeps in memory from the shared database (a map's generation, the user
/// names): the value with the version it was loaded at, and when the database last confirmed
/// that version current. `refresh` asks for the version and loads the value again only when it
/// changed; `current` is the value while it was confirmed within `maxStale`, else nil (the
/// caller answers "cannot say now": a 4xx, never a guess on data that may have changed).
final class ConfirmedSnapshot<Version: Equatable & Sendable, Value: Sendable>: Sendable {
    struct State {
        var version: Version
        var value: Value
        var confirmed: ContinuousClock.Instant
    }

    let maxStale: Duration
    let state = Mutex<State?>(nil)
    /// How many values were loaded.
    private let loaded = Atomic<Int64>(0)
    var loads: Int64 { loaded.load(ordering: .acquiring) }

    init(maxStale: Duration) {
        self.maxStale = maxStale
    }

    func current(now: ContinuousClock.Instant = .now) -> Value? {
        guard let state = state.withLock({ $0 }), now - state.confirmed <= maxStale else { return nil }
        return state.value
    }

    var version: Version? { state.withLock { $0?.version } }

    /// Confirms the version in memory, or loads the new one; returns the value loaded, nil when
    /// the version was confirmed unchanged. A failure leaves the snapshot as it was (unconfirmed).
    func refresh(version check: () async throws -> Version, load: (Version) async throws -> Value) async throws -> Value? {
        let asked = ContinuousClock.now
        let version = try await check()
        if state.withLock({ $0?.version }) == version {
            state.withLock { $0?.confirmed = asked }
            return nil
        }
        let value = try await load(version)
        state.withLock { $0 = State(version: version, value: value, confirmed: asked) }
        loaded.add(1, ordering: .releasing)
        return value
    }
}

/// A service that refreshes what it keeps from the database every `checkInterval`, until the
/// graceful shutdown (PostgresMap, PostgresUserNames).
public protocol PeriodicRefresh: Service {
    var checkInterval: Duration { get }
    func refresh() async
}

extension PeriodicRefresh {
    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while true {
                await self.refresh()
                try await Task.sleep(for: self.checkInterval)
            }
        }
    }
}
