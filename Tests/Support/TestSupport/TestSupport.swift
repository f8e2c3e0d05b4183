import CProcess
import Foundation
import Synchronization

/// Helpers shared by the test targets: processes, paths, blocking work off the cooperative pool.
public enum TestSupport {
    /// The package's root directory.
    public static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// A product of this package, from the build directory the tests run from. A service
    /// (deploy/services) is a role of the mailstack executable: its path is a link named after
    /// it, made here as scripts/link-services.sh and the installed package make it.
    public static func binary(_ name: String) -> String {
        let path = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path
        if services.contains(name) { _ = symlink("mailstack", path) } // EEXIST once made
        return path
    }

    /// The services in start order (deploy/services, the list every script uses).
    public static let services: [String] = {
        let list = (try? String(contentsOfFile: packageRoot + "/deploy/services", encoding: .utf8)) ?? ""
        return list.split(separator: "\n").map { String($0) }.filter { !$0.isEmpty }
    }()

    /// The first of `count` consecutive TCP ports on 127.0.0.1 that are free now, below the
    /// kernel's ephemeral range, so no client connection of another test can be holding one
    /// when a server binds it.
    public static func freePorts(_ count: Int = 1) -> Int {
        let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? "32768"
        let ephemeral = Int(range.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first ?? "") ?? 32768
        for _ in 0..<200 {
            let base = Int.random(in: 20000...(ephemeral - count - 1))
            if (base..<base + count).allSatisfy(isFree) { return base }
        }
        return Int.random(in: 20000...(ephemeral - count - 1))
    }

    static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// Writes an executable script (mode 0755) through a descriptor of our own with O_CLOEXEC: a
    /// process another test forks meanwhile must not inherit it open for writing, or exec of the
    /// script fails with ETXTBSY ("Text file busy") for as long as that process lives (seen with
    /// Foundation's write(toFile:atomically:), whose mkstemp descriptor is not close-on-exec).
    public static func writeExecutable(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        fchmod(fd, 0o755)
    }

    /// A new empty directory under /tmp, short enough for socket paths inside it.
    public static func temporaryDirectory(_ tag: String = "t") throws -> String {
        let path = "/tmp/ms-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs a program to completion with `input` on stdin (blocking; see `runAsync`). Uses
    /// posix_spawn and waitpid with files for stdio: Foundation's Process waits on a run loop,
    /// which stalls when called from dispatch threads.
    @discardableResult
    public static func run(_ argv: [String], input: [UInt8] = [], environment: [String: String]? = nil) throws -> Result {
        let dir = try temporaryDirectory("run")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/in", contents: Data(input))
        let pid = try spawn(argv, stdin: dir + "/in", stdout: dir + "/out", stderr: dir + "/err", environment: environment)
        let status = waitExit(pid)
        return Result(status: status,
                      stdout: (try? String(contentsOfFile: dir + "/out", encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOfFile: dir + "/err", encoding: .utf8)) ?? "")
    }

    /// Starts `argv` with stdio redirected to files and `passing` as fds 3, 4, ... (as systemd
    /// passes sockets); returns its pid.
    public static func spawn(_ argv: [String], stdin: String = "/dev/null", stdout: String, stderr: String,
                             environment: [String: String]? = nil, passing fds: [Int32] = []) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (index, fd) in fds.enumerated() { posix_spawn_file_actions_adddup2(&actions, fd, 3 + Int32(index)) }
        // Nothing else of this process: the tests run in parallel, and a socket another test holds
        // (few are close-on-exec: NIO's accepted ones are not) would otherwise live on in this
        // child, so that test's peer never saw it closed.
        mailstack_spawn_addclosefrom(&actions, 3 + Int32(fds.count))
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let env = environment ?? ProcessInfo.processInfo.environment
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (cArgs + cEnv).forEach { free($0) } }
        // The child starts with no blocked signals and default handlers (this process's threads
        // block some; a daemon that inherits that mask would ignore SIGTERM).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EINVAL) }
        return pid
    }

    /// Reaps `pid`; its exit status, or 128 + the signal that killed it.
    public static func waitExit(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// `run` on a dispatch thread, for async tests.
    public static func runAsync(_ argv: [String], input: [UInt8] = []) async throws -> Result {
        try await offPool { try run(argv, input: input) }
    }

    /// Waits for an event: until `condition` holds, checking every 20 ms. `timeout` bounds a
    /// broken build, it measures nothing; past it the test fails with `TimedOut` naming the
    /// line that waited. The one way tests wait.
    public static func eventually(timeout: Duration = .seconds(30), file: String = #fileID, line: Int = #line,
                                  _ condition: @Sendable () async -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !(await condition()) {
            guard ContinuousClock.now < deadline else { throw TimedOut(place: "\(file):\(line)", timeout: timeout) }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    public struct TimedOut: Error, CustomStringConvertible {
        public let place: String
        public let timeout: Duration
        public var description: String { "\(place): the awaited condition did not hold within \(timeout)" }
    }

    /// Runs blocking work on a thread of its own, never on the cooperative pool (one thread per
    /// core: two blocked threads would stall every async test) nor on Dispatch's global queue
    /// (on Linux it grows by about a thread a second when its workers block, so with the suite
    /// in parallel a blocking read waited seconds just to start, behind other tests' reads).
    public static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Swift.Result { try work() }) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Waits until `path` exists (a daemon's socket).
    public static func waitForFile(_ path: String, file: String = #fileID, line: Int = #line) async throws {
        try await eventually(file: file, line: line) { FileManager.default.fileExists(atPath: path) }
    }

    /// Sorted lines of a text.
    public static func sortedLines(_ text: String) -> [String] {
        text.split(separator: "\n").map(String.init).sorted()
    }
}

/// A Mutex in a class, so escaping closures can share it.
public final class Locked<Value: Sendable>: Sendable {
    let mutex: Mutex<Value>
    public init(_ value: Value) { mutex = Mutex(value) }
    public func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

/// A daemon of this package started for a test, with its stderr in a file; stopped with
/// SIGTERM (or killed) and reaped.
public final class DaemonProcess: @unchecked Sendable {
    public let pid: pid_t
    public let stderrPath: String
    /// The exit status, once `exitStatus` or `stop` reaped it.
    private let status = Mutex<Int32?>(nil)

    /// `wrapper` runs before the binary and must exec it (same pid), like `prlimit --nofile=N`.
    public init(_ name: String, arguments: [String], stderrPath: String, wrapper: [String] = []) throws {
        self.stderrPath = stderrPath
        pid = try TestSupport.spawn(wrapper + [TestSupport.binary(name)] + arguments, stdout: "/dev/null", stderr: stderrPath)
    }

    public var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// The exit status if it has exited (reaped now), else nil: a daemon that died at start
    /// is reported at once instead of being waited for until a deadline.
    public var exitStatus: Int32? {
        status.withLock { known in
            if known == nil {
                var raw: Int32 = 0
                if waitpid(pid, &raw, WNOHANG) == pid {
                    let signal = raw & 0x7f
                    known = signal == 0 ? (raw >> 8) & 0xff : 128 + signal
                }
            }
            return known
        }
    }

    /// Sends `signal` (SIGTERM), then returns the exit status once it exited.
    public func stop(signal: Int32 = SIGTERM) async throws -> Int32 {
        if let known = exitStatus { return known }
        kill(pid, signal)
        let pid = self.pid
        let exited = try await TestSupport.offPool { TestSupport.waitExit(pid) }
        status.withLock { $0 = exited }
        return exited
    }

    deinit {
        if exitStatus == nil {
            kill(pid, SIGKILL)
            _ = TestSupport.waitExit(pid)
        }
    }
}

/// A real DNS server for tests: dnsmasq on 127.0.0.1 at a free port, answering only from the
/// records given (NXDOMAIN for anything else under .test and the reverse zones), never
/// forwarding anywhere.
public final class TestDNSServer: @unchecked Sendable {
    public let port: Int
    let daemon: pid_t
    let directory: String

    /// `records` are dnsmasq options without the leading "--", like "host-record=a.test,192.0.2.1".
    public init(records: [String]) async throws {
        directory = try TestSupport.temporaryDirectory("dns")
        var lastError: Error = POSIXError(.EADDRINUSE)
        for _ in 0..<10 {
            let port = TestSupport.freePorts()
            let argv = ["/usr/sbin/dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                        "--port=\(port)", "--listen-address=127.0.0.1", "--bind-interfaces", "--user=root",
                        "--local=/test/", "--local=/in-addr.arpa/", "--local=/ip6.arpa/", "--pid-file=", "--local-ttl=60",
                        "--log-facility=\(directory)/log"] + records.map { "--" + $0 }
            let pid = try TestSupport.spawn(argv, stdout: directory + "/out", stderr: directory + "/err")
            try await Task.sleep(for: .milliseconds(150))
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == 0 {
                self.port = port
                self.daemon = pid
                return
            }
            lastError = POSIXError(.EADDRINUSE)
        }
        throw lastError
    }

    public var server: String { "127.0.0.1:\(port)" }

    deinit {
        kill(daemon, SIGTERM)
        _ = TestSupport.waitExit(daemon)
        try? FileManager.default.removeItem(atPath: directory)
    }
}
