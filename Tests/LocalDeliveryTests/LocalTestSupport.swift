#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LocalDeliveryService
import Logging
import TestSupport

/// One test's scratch layout: a smrsh directory holding the test's programs, and an output
/// directory any user may write to (when the tests run as root, programs run as nobody).
struct LocalFixture {
    let dir: String
    var smrsh: String { dir + "/smrsh" }
    var out: String { dir + "/out" }

    init() throws {
        dir = try TestSupport.temporaryDirectory("local")
        chmod(dir, 0o755)
        mkdir(dir + "/smrsh", 0o755)
        mkdir(dir + "/out", 0o777)
        chmod(dir + "/out", 0o777)
    }

    /// An executable script in the smrsh directory.
    func program(_ name: String, _ text: String) throws {
        try TestSupport.writeExecutable(smrsh + "/" + name, text)
    }

    /// `probe OUT`: writes what it got as JSON to OUT: its argv, its environment as exec gave it
    /// (/proc/self/environ: Python adds LC_CTYPE to os.environ), stdin, uid/euid/gid and groups,
    /// the descriptors open when it started, pid and process group, working directory.
    func probe() throws {
        try program("probe", """
        #!/usr/bin/python3
        import json, os, sys
        fds = []
        for name in os.listdir("/proc/self/fd"):
            try:
                os.readlink("/proc/self/fd/" + name)
            except OSError:
                continue  # the listing's own descriptor, closed by now
            fds.append(int(name))
        environ = open("/proc/self/environ", "rb").read().split(b"\\0")
        env = dict(e.decode().split("=", 1) for e in environ if e)
        data = sys.stdin.buffer.read()
        report = {"argv": sys.argv, "env": env, "stdin": data.decode("latin-1"), "uid": os.getuid(), "euid": os.geteuid(),
                  "gid": os.getgid(), "groups": os.getgroups(), "fds": sorted(fds), "pid": os.getpid(), "pgid": os.getpgrp(),
                  "cwd": os.getcwd()}
        with open(sys.argv[1], "w") as f:
            json.dump(report, f)

        """)
    }

    /// What `probe` wrote to out/<name>.
    func report(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: out + "/" + name))
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    func settings(timeout: Duration = .seconds(60), fromLine: Bool = false, files: [String] = [],
                  lockTimeout: Duration = .seconds(30)) -> LocalDeliverySettings {
        var settings = LocalDeliverySettings(smrshDirectory: smrsh, programTimeout: timeout, programFromLine: fromLine,
                                             identity: RunIdentity.resolve(runAs: "nobody"), fileDirectories: files,
                                             fileLockTimeout: lockTimeout)
        settings.stopGrace = .seconds(1)
        return settings
    }

    func delivery(_ settings: LocalDeliverySettings? = nil) -> LocalDelivery {
        LocalDelivery(settings: settings ?? self.settings(), logger: Logger(label: "test"))
    }
}

/// The queue's form of a message: CRLF lines, one body line that begins with "From ".
let sampleMessage = Array("From: a@example.test\r\nTo: list@domain1.com\r\nSubject: hello\r\n\r\nfirst line\r\nFrom the start\r\nlast\r\n".utf8)

func job(_ target: LocalJob.Target, sender: String = "a@example.test", home: String = "") -> LocalJob {
    LocalJob(queueID: "q1", sender: sender, recipient: "info@domain1.com", originalRecipient: "rfc822;info@domain1.com",
             alias: "info", target: target, home: home)
}

/// Dead: no such process, or a zombie nobody reaps (this machine's pid 1 does not reap the
/// orphans it inherits, and a killed program's children are such orphans).
func isGone(_ pid: pid_t) -> Bool {
    if kill(pid, 0) != 0 { return errno == ESRCH }
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    guard let close = stat.lastIndex(of: ")") else { return true }
    return stat[stat.index(close, offsetBy: 2)...].hasPrefix("Z")
}
