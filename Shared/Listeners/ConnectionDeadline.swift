import NIOCore
import Timing
import Synchronization

/// A deadline on one connection: after `timeout`, a farewell line (if any) is written and the
/// connection closed, unless disarmed first. Sessions arm it while they wait for a whole line,
/// so a client trickling octets cannot stretch it: it runs from the moment the session starts
/// waiting, not from the last octet. (Blocked writes have their own: `WriteStallCloser`.)
///
/// Arming and disarming are called for every command, so they only note the deadline: one timer
/// per connection stays scheduled and, when it fires, looks at what was noted last. Disarmed, it
/// does nothing (the next `arm` schedules again); armed for a later moment, it moves itself there.
/// A new deadline earlier than the timer (a shorter timeout) moves the timer forward. The timer
/// goes when the connection closes. (A timer scheduled and cancelled for every command was about
/// 2% of smtp-in's CPU.)
public final class ConnectionDeadline: Sendable {
    let channel: Channel

    private struct State {
        /// When the connection is closed, and with what farewell; nil while disarmed.
        var due: NIODeadline?
        var timeout = TimeAmount.zero
        var farewell: String?
        /// The scheduled timer and when it fires.
        var timer: Scheduled<Void>?
        var timerAt: NIODeadline?
        /// The connection has closed: nothing is scheduled any more.
        var stopped = false
    }

    private let state = Mutex(State())

    public init(channel: Channel) {
        self.channel = channel
        channel.closeFuture.whenComplete { [self] _ in
            let timer: Scheduled<Void>? = state.withLock { state in
                state.stopped = true
                state.due = nil
                defer { state.timer = nil; state.timerAt = nil }
                return state.timer
            }
            timer?.cancel()
        }
    }

    public func arm(after timeout: Duration, farewell: String?) {
        let amount = timeout.timeAmount
        let due = channel.eventLoop.now + amount
        let replaced: Scheduled<Void>? = state.withLock { state in
            guard !state.stopped else { return nil }
            state.due = due
            state.timeout = amount
            state.farewell = farewell
            if let at = state.timerAt, at <= due { return nil } // it fires first and moves itself
            let old = state.timer
            schedule(at: due, &state)
            return old
        }
        replaced?.cancel()
    }

    public func disarm() {
        state.withLock { $0.due = nil }
    }

    /// Whether a timer is scheduled (tests).
    var scheduled: Bool { state.withLock { $0.timer != nil } }

    private func schedule(at deadline: NIODeadline, _ state: inout State) {
        state.timerAt = deadline
        state.timer = channel.eventLoop.scheduleTask(deadline: deadline) { [self] in fire(deadline) }
    }

    /// The timer set for `at` fires: closes the connection if its deadline has come, moves itself
    /// to a later deadline, or ends if disarmed.
    private func fire(_ at: NIODeadline) {
        let expired: (timeout: TimeAmount, farewell: String?)? = state.withLock { state in
            guard state.timerAt == at else { return nil } // replaced by an earlier one
            state.timer = nil
            state.timerAt = nil
            guard !state.stopped, let due = state.due else { return nil }
            if self.channel.eventLoop.now < due {
                schedule(at: due, &state)
                return nil
            }
            state.due = nil
            return (state.timeout, state.farewell)
        }
        guard let expired else { return }
        let channel = self.channel
        guard let farewell = expired.farewell else { return channel.close(promise: nil) }
        // A client that does not read cannot keep the connection by leaving the farewell unsent
        // (behind replies it never read, below the write-stall bound): it gets as long again,
        // then the connection closes anyway.
        let late = channel.eventLoop.scheduleTask(in: expired.timeout) { channel.close(promise: nil) }
        channel.writeAndFlush(channel.allocator.buffer(string: farewell)).whenComplete { _ in
            late.cancel()
            channel.close(promise: nil)
        }
    }
}
