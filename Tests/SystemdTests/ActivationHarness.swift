import Foundation
import Glibc
import TestSupport

/// Starts a daemon the way systemd would, without systemd: sockets passed as fds 3.. with
/// LISTEN_FDS / LISTEN_FDNAMES / LISTEN_PID, and a NOTIFY_SOCKET (AF_UNIX datagram) this harness
/// listens on to see READY=1, WATCHDOG=1 and STOPPING=1.
final class ActivationHarness: @unchecked Sendable {
    let directory: String
    let notifyPath: String
    let notifyFD: Int32
    var pid: pid_t = 0
    let stderrPath: String

    init() throws {
        directory = "/tmp/ms-sd-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(directory, 0o755)
        notifyPath = directory + "/notify"
        stderrPath = directory + "/stderr"
        notifyFD = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try Self.bind(notifyFD, notifyPath)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(notifyFD, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit {
        if pid > 0 { kill(pid, SIGKILL); _ = TestSupport.waitExit(pid) }
        close(notifyFD)
        try? FileManager.default.removeItem(atPath: directory)
    }

    static func bind(_ fd: Int32, _ path: String) throws {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EINVAL) }
    }

    /// A connection to the Unix socket at `path` (made at once: it waits in the backlog until
    /// someone accepts it).
    static func connect(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EINVAL)
        }
        return fd
    }

    /// A listening Unix stream socket at `path`, as a .socket unit would hold it.
    func listeningSocket(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try Self.bind(fd, path)
        listen(fd, 128)
        return fd
    }

    /// Spawns `argv` with `sockets` as fds 3.. named `names`, and the notify socket.
    func spawn(_ argv: [String], sockets: [Int32] = [], names: [String] = [], watchdogUSec: Int? = nil) throws {
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("LISTEN_") && $0.key != "NOTIFY_SOCKET" }
        environment["NOTIFY_SOCKET"] = notifyPath
        if !sockets.isEmpty {
            environment["LISTEN_FDS"] = "\(sockets.count)"
            environment["LISTEN_FDNAMES"] = names.joined(separator: ":")
        }
        if let watchdogUSec { environment["WATCHDOG_USEC"] = "\(watchdogUSec)" }
        // LISTEN_PID must be the daemon's own pid: a shell sets it to $$ and execs in place.
        let wrapped = ["/bin/sh", "-c", sockets.isEmpty ? "exec \"$0\" \"$@\"" : "LISTEN_PID=$$ exec \"$0\" \"$@\""] + argv
        pid = try TestSupport.spawn(wrapped, stdout: "/dev/null", stderr: stderrPath, environment: environment, passing: sockets)
    }

    /// The next notification datagram, or nil after the receive timeout.
    func nextNotification() async -> String? {
        let fd = notifyFD
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = recv(fd, &buffer, buffer.count, 0)
                continuation.resume(returning: n > 0 ? String(decoding: buffer[..<n], as: UTF8.self) : nil)
            }
        }
    }

    /// Waits for a notification containing `needle`, collecting everything seen.
    func waitFor(_ needle: String, seen: inout [String]) async -> Bool {
        while let message = await nextNotification() {
            seen.append(message)
            if message.split(separator: "\n").contains(Substring(needle)) { return true }
        }
        return false
    }

    /// Waits for the child to exit; returns its exit status.
    func waitExit() async -> Int32 {
        let pid = self.pid
        let status = (try? await TestSupport.offPool { TestSupport.waitExit(pid) }) ?? -1
        self.pid = 0
        return status
    }

    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    static func binary(_ name: String) -> String { TestSupport.binary(name) }

}
