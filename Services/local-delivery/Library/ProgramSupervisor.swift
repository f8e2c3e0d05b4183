import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One program to run: what `ProgramDelivery` decided, nothing left to check.
struct ProgramRun: Sendable {
    /// argv[0] is the path executed (the smrsh entry).
    var argv: [String]
    var environment: [String]
    var directory: String
    /// Switch to this user in the child (this process is root); nil: run as this process's user.
    var user: (uid: UInt32, gid: UInt32)?
    /// The program's stdin, written as it reads; closed after the last octet.
    var input: [UInt8]
    var timeout: Duration
    var stopGrace: Duration
    var outputLimit: Int
}

/// How a program ended and the first `outputLimit` octets it wrote (stdout and stderr).
struct ProgramReport: Sendable {
    var pid: pid_t
    var outcome: ProgramOutcome
    var output: [UInt8]
}

/// Runs a program to its end on a thread of its own (it blocks in poll(2) for as long as the
/// program runs, never on the cooperative pool): stdin fed, output collected, the time limit
/// kept. One poll loop watches three descriptors: the stdin pipe (writable), the output pipe
/// (readable) and a pidfd (readable once the program has exited, before it is reaped).
///
/// At local.program_timeout the program's process group gets SIGTERM, and SIGKILL once the
/// program is gone or `stopGrace` later; its leader is reaped only after that, so the group's
/// id cannot have been reused by anyone else when it is signalled. A program that ends in time
/// is reaped and nothing else is touched: what it left running in the background (a list
/// manager's own worker) goes on, and only the output written before it exited is kept.
enum ProgramSupervisor {
    static func run(_ run: ProgramRun) async -> Result<ProgramReport, LinuxProcess.SpawnFailure> {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: runBlocking(run)) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    static func runBlocking(_ run: ProgramRun) -> Result<ProgramReport, LinuxProcess.SpawnFailure> {
        // A write to a program that stopped reading fails with EPIPE instead of killing us: the
        // signal is blocked in this thread only, and this thread ends with the program.
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)

        let stdinPipe: (read: Int32, write: Int32), outputPipe: (read: Int32, write: Int32)
        do { stdinPipe = try LinuxProcess.pipe() } catch { return .failure(error) }
        do { outputPipe = try LinuxProcess.pipe() } catch {
            close(stdinPipe.read)
            close(stdinPipe.write)
            return .failure(error)
        }
        let spawned = LinuxProcess.spawn(path: run.argv[0], argv: run.argv, environment: run.environment, directory: run.directory,
                                         stdin: stdinPipe.read, output: outputPipe.write, user: run.user)
        close(stdinPipe.read)
        close(outputPipe.write)
        let pid: pid_t
        switch spawned {
        case let .success(started): pid = started
        case let .failure(failure):
            close(stdinPipe.write)
            close(outputPipe.read)
            return .failure(failure)
        }
        let pidfd: Int32
        do { pidfd = try LinuxProcess.pidfd(pid) } catch {
            kill(-pid, SIGKILL)
            _ = reap(pid)
            close(stdinPipe.write)
            close(outputPipe.read)
            return .failure(error)
        }
        LinuxProcess.setNonBlocking(stdinPipe.write)
        LinuxProcess.setNonBlocking(outputPipe.read)
        var watch = Watch(pid: pid, pidfd: pidfd, stdin: stdinPipe.write, output: outputPipe.read, run: run)
        watch.untilExit()
        watch.drainOutput()
        if watch.stopped {
            kill(-pid, SIGKILL) // what is left of the group; the unreaped leader keeps its id ours
        }
        let status = reap(pid)
        close(pidfd)
        let outcome: ProgramOutcome
        if watch.stopped {
            outcome = .timedOut(run.timeout)
        } else if status & 0x7f == 0 {
            outcome = .exited((status >> 8) & 0xff)
        } else {
            outcome = .signaled(status & 0x7f)
        }
        return .success(ProgramReport(pid: pid, outcome: outcome, output: watch.output))
    }

    static func reap(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }

    /// The poll loop's state.
    struct Watch {
        let pid: pid_t
        let pidfd: Int32
        var stdin: Int32?
        var outputFD: Int32?
        let input: [UInt8]
        var written = 0
        var output: [UInt8] = []
        let outputLimit: Int
        var deadline: ContinuousClock.Instant
        let stopGrace: Duration
        /// SIGTERM sent (the time limit passed); then SIGKILL.
        var stopped = false
        var killed = false

        init(pid: pid_t, pidfd: Int32, stdin: Int32, output: Int32, run: ProgramRun) {
            self.pid = pid
            self.pidfd = pidfd
            self.stdin = stdin
            self.outputFD = output
            input = run.input
            outputLimit = run.outputLimit
            deadline = .now + run.timeout
            stopGrace = run.stopGrace
            if input.isEmpty { closeStdin() }
        }

        /// Feeds stdin and reads output until the program has exited, stopping it at the deadline.
        mutating func untilExit() {
            while true {
                var fds = [pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)]
                if let stdin { fds.append(pollfd(fd: stdin, events: Int16(POLLOUT), revents: 0)) }
                if let outputFD { fds.append(pollfd(fd: outputFD, events: Int16(POLLIN), revents: 0)) }
                let now = ContinuousClock.now
                if !killed && now >= deadline {
                    if !stopped {
                        stopped = true
                        kill(-pid, SIGTERM)
                        deadline = now + stopGrace
                    } else {
                        killed = true
                        kill(-pid, SIGKILL)
                    }
                    continue
                }
                let wait = killed ? -1 : Int32(clamping: Self.milliseconds(deadline - now))
                let ready = poll(&fds, nfds_t(fds.count), wait)
                if ready < 0 && errno != EINTR {
                    // Not expected: without poll there is no time limit, so the program goes now
                    // (it is reaped as killed by a signal: temporary).
                    kill(-pid, SIGKILL)
                    return
                }
                for entry in fds where entry.revents != 0 {
                    if entry.fd == pidfd { return }
                    if entry.fd == stdin { feed() } else if entry.fd == outputFD { readOutput() }
                }
            }
        }

        /// Rounded up, so a wait never ends just before its deadline.
        static func milliseconds(_ duration: Duration) -> Int64 {
            max(1, duration.components.seconds * 1000 + (duration.components.attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
        }

        mutating func feed() {
            guard let stdin else { return }
            let count = input.count - written
            let result = input.withUnsafeBytes { write(stdin, $0.baseAddress! + written, min(count, 65536)) }
            if result > 0 {
                written += result
                if written == input.count { closeStdin() }
            } else if result < 0 && (errno == EAGAIN || errno == EINTR) {
                return
            } else {
                closeStdin() // EPIPE: the program does not read (more); its exit status decides
            }
        }

        mutating func closeStdin() {
            if let stdin { close(stdin) }
            stdin = nil
        }

        /// Reads what is there; keeps the first outputLimit octets and drops the rest.
        mutating func readOutput() {
            guard let fd = outputFD else { return }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                if output.count < outputLimit { output += buffer[0..<min(count, outputLimit - output.count)] }
            } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                close(fd)
                outputFD = nil
            }
        }

        /// After the exit: what the program wrote before it ended is in the pipe; read it (up to
        /// 1 MiB, against a background process that goes on writing) and close.
        mutating func drainOutput() {
            closeStdin()
            var budget = 16
            while outputFD != nil && budget > 0 {
                guard let fd = outputFD else { break }
                var probe = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&probe, 1, 0) > 0 else { break }
                readOutput()
                budget -= 1
            }
            if let fd = outputFD { close(fd) }
            outputFD = nil
        }
    }
}
