import Foundation
import Synchronization

/// Helpers shared by the test targets: processes, paths, blocking work off the cooperative pool.
public enum TestSupport {
    /// The package's root directory.
    public static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// A product of this package, from the build directory the tests run from.
    public static func binary(_ name: String) -> String {
        URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path
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

    /// Starts `argv` with stdio redirected to files; returns its pid.
    public static func spawn(_ argv: [String], stdin: String = "/dev/null", stdout: String, stderr: String,
                             environment: [String: String]? = nil) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let env = environment ?? ProcessInfo.processInfo.environment
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (cArgs + cEnv).forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, cArgs, cEnv)
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

    /// Runs blocking work on a dispatch thread, never on the cooperative pool (one thread per
    /// core: two blocked threads would stall every async test).
    public static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Swift.Result { try work() }) }
        }
    }

    /// Waits until `path` exists (a daemon's socket), up to `timeout`.
    public static func waitForFile(_ path: String, timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while !FileManager.default.fileExists(atPath: path) {
            guard ContinuousClock.now < deadline else { throw POSIXError(.ETIMEDOUT) }
            try await Task.sleep(for: .milliseconds(10))
        }
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
    private var reaped = false

    public init(_ name: String, arguments: [String], stderrPath: String) throws {
        self.stderrPath = stderrPath
        pid = try TestSupport.spawn([TestSupport.binary(name)] + arguments, stdout: "/dev/null", stderr: stderrPath)
    }

    public var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Sends `signal` (SIGTERM), then returns the exit status once it exited.
    public func stop(signal: Int32 = SIGTERM) async throws -> Int32 {
        kill(pid, signal)
        let pid = self.pid
        let status = try await TestSupport.offPool { TestSupport.waitExit(pid) }
        reaped = true
        return status
    }

    deinit {
        if !reaped {
            kill(pid, SIGKILL)
            _ = TestSupport.waitExit(pid)
        }
    }
}
