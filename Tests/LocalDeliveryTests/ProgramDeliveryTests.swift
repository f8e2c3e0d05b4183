import Accounts
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LocalDeliveryService
import SMTP
import Testing
import TestSupport

/// Alias programs run for real: scripts in a scratch smrsh directory, started by the same code
/// the daemon uses.
@Suite("program deliveries")
struct ProgramDeliveryTests {
    @Test("exit 0: the message on stdin with LF ends, the fixed environment, nothing inherited, never root")
    func delivered() async throws {
        let fixture = try LocalFixture()
        try fixture.probe()
        // A descriptor of ours without close-on-exec: it must not reach the program.
        let leaked = open("/dev/null", O_RDONLY)
        defer { close(leaked) }
        let reply = await fixture.delivery().deliver(job(.program("/usr/bin/probe \(fixture.out)/run.json")), message: sampleMessage)
        #expect(reply.code == 250 && reply.enhanced == "2.0.0" && reply.text == "Sent", "\(reply)")
        let report = try fixture.report("run.json")
        #expect(report["stdin"] as? String == String(decoding: MboxFormat.unixLines(sampleMessage), as: UTF8.self))
        // HOME: the job's (none here), else the run user's home if it exists (nobody's does not), else /.
        let runHome = RunIdentity.resolve(runAs: "nobody").home
        let home = LocalDeliverySettings.isDirectory(runHome) ? runHome : "/"
        #expect(report["env"] as? [String: String] == [
            "SENDER": "a@example.test", "RECIPIENT": "info@domain1.com", "ORIGINAL_RECIPIENT": "rfc822;info@domain1.com",
            "HOME": home, "PATH": "/usr/local/bin:/usr/bin:/bin", "SHELL": "/bin/sh", "AGENT": "mailstack", "LANG": "C",
        ])
        #expect(report["fds"] as? [Int] == [0, 1, 2], "only stdin, stdout, stderr")
        #expect(report["pgid"] as? Int == report["pid"] as? Int, "a process group of its own")
        #expect(report["cwd"] as? String == home)
        // smrsh: what ran is the entry of the smrsh directory, not what the alias named.
        #expect((report["argv"] as? [String])?.first == fixture.smrsh + "/probe")
        let uid = try #require(report["uid"] as? Int), euid = try #require(report["euid"] as? Int)
        #expect(uid != 0 && euid != 0 && report["gid"] as? Int != 0, "never as root")
        if getuid() == 0 {
            #expect(uid == Int(SystemUser.named("nobody")!.uid), "root's deliveries run as local.run_as")
            #expect(report["groups"] as? [Int] == [], "no supplementary groups")
        } else {
            #expect(uid == Int(getuid()))
        }
    }

    @Test("the job's home is HOME and the working directory; the From line when asked")
    func homeAndFromLine() async throws {
        let fixture = try LocalFixture()
        try fixture.probe()
        let delivery = fixture.delivery(fixture.settings(fromLine: true))
        let reply = await delivery.deliver(job(.program("probe \(fixture.out)/home.json"), sender: "", home: fixture.out), message: sampleMessage)
        #expect(reply.code == 250, "\(reply)")
        let report = try fixture.report("home.json")
        #expect((report["env"] as? [String: String])?["HOME"] == fixture.out)
        #expect((report["env"] as? [String: String])?["SENDER"] == "")
        #expect(report["cwd"] as? String == fixture.out)
        let stdin = try #require(report["stdin"] as? String)
        #expect(stdin.hasPrefix("From MAILER-DAEMON "), "\(stdin.prefix(80))")
        #expect(stdin.split(separator: "\n", maxSplits: 1)[1] == String(decoding: MboxFormat.unixLines(sampleMessage), as: UTF8.self))
    }

    @Test("exit 75 (EX_TEMPFAIL) is temporary")
    func tempfail() async throws {
        let fixture = try LocalFixture()
        try fixture.program("busy", "#!/bin/sh\nexit 75\n")
        let reply = await fixture.delivery().deliver(job(.program("busy")), message: sampleMessage)
        #expect(reply.isTemporary && reply.code == 450 && reply.enhanced == "4.0.0" && reply.text == "Deferred", "\(reply)")
    }

    @Test("exit 1 with output is permanent, and the DSN text quotes what the program said")
    func failed() async throws {
        let fixture = try LocalFixture()
        try fixture.program("lister", "#!/bin/sh\necho \"no such list: $1\" >&2\nprintf 'second\\033[0m line\\n'\nexit 1\n")
        let reply = await fixture.delivery().deliver(job(.program("lister info")), message: sampleMessage)
        #expect(reply.isPermanent && reply.code == 554 && reply.enhanced == "5.3.0", "\(reply)")
        #expect(reply.text == "unknown mailer error 1 (program said: no such list: info / second\\x1B[0m line)")
    }

    @Test("a program still running at the time limit: temporary, and its whole process group is gone")
    func timeout() async throws {
        let fixture = try LocalFixture()
        // It ignores SIGTERM (so does the child it leaves, which inherits that): SIGKILL ends both.
        try fixture.program("sleeper", """
        #!/bin/sh
        trap '' TERM
        sleep 300 &
        echo $! > "$1.child"
        echo $$ > "$1.leader"
        wait

        """)
        let reply = await fixture.delivery(fixture.settings(timeout: .seconds(1)))
            .deliver(job(.program("sleeper \(fixture.out)/s")), message: sampleMessage)
        #expect(reply.isTemporary && reply.code == 451 && reply.enhanced == "4.4.7", "\(reply)")
        #expect(reply.text.hasPrefix("program timed out after 1s"), "\(reply)")
        let leader = try #require(pid_t(String(contentsOfFile: fixture.out + "/s.leader", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        let child = try #require(pid_t(String(contentsOfFile: fixture.out + "/s.child", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(kill(leader, 0) != 0 && errno == ESRCH, "the leader is reaped")
        try await TestSupport.eventually { isGone(child) }
    }

    @Test("a program not in the smrsh directory is refused, naming the rule; nothing runs")
    func notInSmrsh() async throws {
        let fixture = try LocalFixture()
        let reply = await fixture.delivery().deliver(job(.program("/usr/bin/touch \(fixture.out)/ran")), message: sampleMessage)
        #expect(reply.code == 554 && reply.enhanced == "5.0.0", "\(reply)")
        #expect(reply.text == "smrsh: \"touch\" not available for mailstack programs (only programs in \(fixture.smrsh) may run)")
        #expect(!FileManager.default.fileExists(atPath: fixture.out + "/ran"))
        // A directory in the smrsh directory is no program either.
        mkdir(fixture.smrsh + "/dir", 0o755)
        let directory = await fixture.delivery().deliver(job(.program("dir")), message: sampleMessage)
        #expect(directory.code == 554 && directory.text.contains("not a regular file"), "\(directory)")
    }

    @Test("shell metacharacters and control characters are refused before anything is looked up")
    func metacharacters() async throws {
        let fixture = try LocalFixture()
        try fixture.probe()
        for line in ["probe \(fixture.out)/a.json; touch \(fixture.out)/ran", "probe \(fixture.out)/a.json `id`",
                     "probe \(fixture.out)/a.json > /etc/passwd", "probe \(fixture.out)/a.json\ntouch x"] {
            let reply = await fixture.delivery().deliver(job(.program(line)), message: sampleMessage)
            #expect(reply.code == 554 && reply.enhanced == "5.0.0" && reply.text.hasPrefix("smrsh: cannot use "), "\(reply)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.out).isEmpty, "nothing ran")
    }

    @Test("a program that cannot be executed is temporary (EX_OSERR), as is a root that cannot switch users")
    func cannotStart() async throws {
        let fixture = try LocalFixture()
        try "#!/bin/sh\nexit 0\n".write(toFile: fixture.smrsh + "/plain", atomically: true, encoding: .utf8)
        chmod(fixture.smrsh + "/plain", 0o644)
        let reply = await fixture.delivery().deliver(job(.program("plain")), message: sampleMessage)
        #expect(reply.code == 451 && reply.text.contains("cannot execute"), "\(reply)")

        var settings = fixture.settings()
        settings.identity = .unusable(reason: "local.run_as: no such user nosuchuser")
        let refused = await fixture.delivery(settings).deliver(job(.program("plain")), message: sampleMessage)
        #expect(refused.code == 451 && refused.text == "cannot run programs: local.run_as: no such user nosuchuser", "\(refused)")

        // The child's last check before exec: whatever it was asked, it never runs a program as root.
        if getuid() == 0 {
            try fixture.program("touch", "#!/bin/sh\ntouch \"$1\"\n")
            settings.identity = .inherited(uid: 0, gid: 0, home: "/")
            let root = await fixture.delivery(settings).deliver(job(.program("touch \(fixture.out)/as-root")), message: sampleMessage)
            #expect(root.code == 451 && root.text.contains("(programs never run as root)"), "\(root)")
            #expect(!FileManager.default.fileExists(atPath: fixture.out + "/as-root"))
        }
    }

    @Test("local.run_as: root is never a user to run as")
    func runAs() {
        #expect(RunIdentity.resolve(runAs: "root", euid: 0) == .unusable(reason: "local.run_as: root is root; programs and files never run as root"))
        #expect(RunIdentity.resolve(runAs: "nosuchuser-xyz", euid: 0) == .unusable(reason: "local.run_as: no such user nosuchuser-xyz"))
        if case let .switched(_, uid, _, _) = RunIdentity.resolve(runAs: "nobody", euid: 0) { #expect(uid != 0) } else { Issue.record("nobody") }
        if case let .inherited(uid, _, _) = RunIdentity.resolve(runAs: "root", euid: 1234) { #expect(uid == 1234) } else { Issue.record("inherited") }
    }
}
