import NIOCore
import Timing
import Synchronization

/// A deadline on one connection: after `timeout`, a farewell line (if any) is written and the
/// connection closed, unless disarmed first. Sessions arm it while they wait for a whole line,
/// so a client trickling octets cannot stretch it: it runs from the moment the session starts
/// waiting, not from the last octet. (Blocked writes have their own: `WriteStallCloser`.)
public final class ConnectionDeadline: Sendable {
    let channel: Channel
    private let task = Mutex<Scheduled<Void>?>(nil)

    public init(channel: Channel) {
        self.channel = channel
    }

    public func arm(after timeout: Duration, farewell: String?) {
        let channel = self.channel
        let scheduled = channel.eventLoop.scheduleTask(in: timeout.timeAmount) {
            guard let farewell else { return channel.close(promise: nil) }
            // A client that does not read cannot keep the connection by leaving the farewell
            // unsent (behind replies it never read, below the write-stall bound): it gets as
            // long again, then the connection closes anyway.
            let late = channel.eventLoop.scheduleTask(in: timeout.timeAmount) { channel.close(promise: nil) }
            channel.writeAndFlush(channel.allocator.buffer(string: farewell)).whenComplete { _ in
                late.cancel()
                channel.close(promise: nil)
            }
        }
        task.withLock { old in
            old?.cancel()
            old = scheduled
        }
    }

    public func disarm() {
        task.withLock { task in
            task?.cancel()
            task = nil
        }
    }
}
