import CProcess
#if canImport(Glibc)
import Glibc
#endif

/// Shared/CProcess wrapped once: fork + exec with the child set up before exec (process group,
/// descriptors, directory, identity), pipes, pidfds, per-thread file credentials, and a fcntl
/// lock with a bounded wait.
enum LinuxProcess {
    /// Where starting a program failed.
    enum Stage: Int32, Sendable {
        case fork = 1, setup, directory, identity, exec
    }

    struct SpawnFailure: Error, Sendable {
        var stage: Stage
        var error: Int32
        var text: String { LinuxProcess.describe(error) }
    }

    /// Starts `path` with `argv` and exactly `environment`, stdin and stdout+stderr on the given
    /// descriptors, in `directory`, as `user` when given (this process being root).
    static func spawn(path: String, argv: [String], environment: [String], directory: String, stdin: Int32, output: Int32,
                      user: (uid: UInt32, gid: UInt32)?) -> Result<pid_t, SpawnFailure> {
        let cArgv = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup($0) } + [nil]
        defer { (cArgv + cEnvironment).forEach { free($0) } }
        var stage: Int32 = 0
        let pid = path.withCString { cPath in
            directory.withCString { cDirectory in
                cArgv.withUnsafeBufferPointer { argvBuffer in
                    cEnvironment.withUnsafeBufferPointer { environmentBuffer in
                        var request = mailstack_spawn_request(
                            path: cPath, argv: argvBuffer.baseAddress, envp: environmentBuffer.baseAddress, directory: cDirectory,
                            stdin_fd: stdin, output_fd: output, switch_user: user == nil ? 0 : 1,
                            uid: user?.uid ?? 0, gid: user?.gid ?? 0)
                        return mailstack_spawn(&request, &stage)
                    }
                }
            }
        }
        guard pid > 0 else { return .failure(SpawnFailure(stage: Stage(rawValue: stage) ?? .setup, error: errno)) }
        return .success(pid)
    }

    /// A pipe whose ends are closed across exec (the child gets copies on 0, 1, 2 only).
    static func pipe() throws(SpawnFailure) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard mailstack_pipe_cloexec(&fds) == 0 else { throw SpawnFailure(stage: .setup, error: errno) }
        return (fds[0], fds[1])
    }

    static func setNonBlocking(_ fd: Int32) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    /// A directory held (O_PATH) for openat and for /proc/self/fd/N; -1 with errno.
    static func openDirectory(_ path: String) -> Int32 { mailstack_open_directory(path) }

    /// A descriptor that polls readable once `pid` has exited (before it is reaped).
    static func pidfd(_ pid: pid_t) throws(SpawnFailure) -> Int32 {
        let fd = mailstack_pidfd_open(pid)
        guard fd >= 0 else { throw SpawnFailure(stage: .setup, error: errno) }
        return fd
    }

    /// This thread's file system identity becomes `uid`/`gid` with no supplementary groups;
    /// nil, or the errno when it could not.
    static func useFileIdentity(uid: UInt32, gid: UInt32) -> Int32? {
        mailstack_thread_file_identity(uid, gid) == 0 ? nil : errno
    }

    /// A write lock on the whole of `fd`'s file, waiting at most `timeout`: nil, or the errno
    /// (ETIMEDOUT when it waited that long).
    static func lock(_ fd: Int32, timeout: Duration) -> Int32? {
        let milliseconds = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        return mailstack_lock_wait(fd, UInt32(clamping: milliseconds)) == 0 ? nil : errno
    }

    static func describe(_ error: Int32) -> String { String(cString: strerror(error)) }
}
