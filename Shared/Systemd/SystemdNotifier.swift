import CSystemd
#if canImport(Glibc)
import Glibc
#endif

/// sd_notify(3): tells the service manager about readiness, shutdown, status and liveness.
/// Without NOTIFY_SOCKET (not started by systemd) every call is a no-op.
public enum SystemdNotifier {
    /// True when a service manager listens for notifications.
    public static var isActive: Bool { getenv("NOTIFY_SOCKET") != nil }

    @discardableResult
    public static func notify(_ state: String) -> Bool {
        sd_notify(0, state) > 0
    }

    /// READY=1, with a status line.
    public static func ready(status: String) {
        notify("READY=1\nSTATUS=\(status)\nMAINPID=\(getpid())")
    }

    /// STOPPING=1, with a status line.
    public static func stopping(status: String = "stopping") {
        notify("STOPPING=1\nSTATUS=\(status)")
    }

    public static func status(_ text: String) {
        notify("STATUS=\(text)")
    }

    public static func watchdog() {
        notify("WATCHDOG=1")
    }

    /// The watchdog interval systemd asked for (WATCHDOG_USEC), or nil when there is none.
    public static var watchdogInterval: Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(usec))
    }
}
