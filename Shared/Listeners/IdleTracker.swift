import NIOCore
import Synchronization

/// The open connections of a service that systemd starts on demand, and whether it has had
/// none for `maxIdle` (Postfix's max_idle): then it may stop, its listening sockets staying with
/// systemd, which starts it again at the next connection (`ipc.max_idle`).
///
/// Listeners count a connection when they accept it (`opened`) and when it closes. Once the
/// tracker has said idle it is closing: a connection accepted after that (in the moment before
/// the listeners close) is refused, closed before a word is said, and its client connects again
/// into systemd's socket, which holds it for the next start. (An IPC client retries at once; an
/// SMTP client, as for any close before the greeting, later.)
public final class IdleTracker: Sendable {
    public enum Decision: Equatable, Sendable {
        /// No connection for `maxIdle`: the service stops (the tracker is closing from now on).
        case idle
        /// None open now; idle at this instant unless one comes first.
        case quietUntil(NIODeadline)
        /// Connections are open.
        case busy
    }

    struct State {
        var open = 0
        /// When the last connection closed (or the tracker was made).
        var quietSince: NIODeadline
        var closing = false
    }

    public let maxIdle: TimeAmount
    let state: Mutex<State>

    public init(maxIdle: TimeAmount, now: NIODeadline = .now()) {
        precondition(maxIdle > .zero, "an idle time of zero would stop the service at once")
        self.maxIdle = maxIdle
        state = Mutex(State(quietSince: now))
    }

    /// Counts a connection just accepted; false (nothing counted) once closing: the caller
    /// closes it at once.
    public func opened() -> Bool {
        state.withLock { state in
            guard !state.closing else { return false }
            state.open += 1
            return true
        }
    }

    /// A connection `opened` let in has closed.
    public func closed(now: NIODeadline = .now()) {
        state.withLock { state in
            state.open -= 1
            if state.open == 0 { state.quietSince = now }
        }
    }

    /// Counts `channel` (just accepted, in its initializer) until it closes, or closes it right
    /// after its setup when the service is stopping (a setup that failed would end the
    /// listener's stream of connections).
    public func track(_ channel: Channel) {
        guard opened() else {
            channel.eventLoop.execute { channel.close(promise: nil) }
            return
        }
        channel.closeFuture.whenComplete { _ in self.closed() }
    }

    /// Whether the service stops now (from then on the tracker refuses connections), may stop
    /// at an instant, or has connections open.
    public func decide(now: NIODeadline = .now()) -> Decision {
        state.withLock { state in
            if state.closing { return .idle }
            if state.open > 0 { return .busy }
            guard now - state.quietSince >= maxIdle else { return .quietUntil(state.quietSince + maxIdle) }
            state.closing = true
            return .idle
        }
    }

    /// Returns once the service has been idle for `maxIdle` (closing from then on): `maxIdle`
    /// after its last connection closed, or after this call if none has come yet (the quiet
    /// time counts from when the service is up, not from when its listener was made: a start
    /// slower than `maxIdle` must not stop it before it accepts the connection it was started
    /// for). Throws CancellationError when cancelled first.
    public func waitUntilIdle(now: NIODeadline = .now()) async throws {
        state.withLock { state in
            if state.open == 0 { state.quietSince = max(state.quietSince, now) }
        }
        while true {
            switch decide() {
            case .idle:
                return
            case let .quietUntil(deadline):
                try await Task.sleep(for: .nanoseconds(max(0, (deadline - .now()).nanoseconds)))
            case .busy:
                try await Task.sleep(for: .nanoseconds(maxIdle.nanoseconds))
            }
        }
    }
}
