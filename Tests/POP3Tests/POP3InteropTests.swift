import Foundation
import Maildir
import POP3Service
import Users
import Testing
import TestSupport

/// The pop3 and drac-registry binaries, started as a user would, fetched from by real clients
/// (Python's poplib, fetchmail); afterwards the client's address is in the registry.
@Suite("POP3 interop with real clients", .serialized)
struct POP3InteropTests {
    struct Stack {
        let dir: String
        let port: Int
        let drac: DaemonProcess
        let pop3: DaemonProcess

        func stop() async throws {
            #expect(try await pop3.stop() == 0)
            #expect(try await drac.stop() == 0)
        }

        func dracList() async throws -> String {
            try await TestSupport.runAsync([TestSupport.binary("mailstack"), "drac", "list", "--set", "ipc.directory=\(dir)"]).stdout
        }
    }

    static func freePort() -> Int { TestSupport.freePorts() }

    func start() async throws -> Stack {
        let dir = try TestSupport.temporaryDirectory("interop")
        try POP3Fixture.passwdText.write(toFile: dir + "/passwd", atomically: true, encoding: .utf8)
        let common = ["--set", "ipc.directory=\(dir)", "--set", "queue.maildir_root=\(dir)/mail", "--set", "log.level=debug"]
        let drac = try DaemonProcess("drac-registry", arguments: common + ["--set", "drac.database=\(dir)/drac.db"],
                                     stderrPath: dir + "/drac.log")
        try await TestSupport.waitForFile(dir + "/drac-registry.sock")
        let port = Self.freePort()
        let pop3 = try DaemonProcess("pop3", arguments: common + [
            "--set", "pop3.listen=127.0.0.1:\(port),[::1]:\(port)", "--set", "pop3.passwd_file=\(dir)/passwd", "--set", "pop3.failure_delay=0s",
        ], stderrPath: dir + "/pop3.log")
        try await TestSupport.eventually { pop3LogReady(dir) }
        return Stack(dir: dir, port: port, drac: drac, pop3: pop3)
    }

    func pop3LogReady(_ dir: String) -> Bool {
        ((try? String(contentsOfFile: dir + "/pop3.log", encoding: .utf8)) ?? "").contains("pop3 ready")
    }

    @Test("out of file descriptors: accepts fail (EMFILE) and are logged, the listener survives and serves once descriptors are free")
    func descriptorExhaustion() async throws {
        let dir = try TestSupport.temporaryDirectory("emfile")
        try POP3Fixture.passwdText.write(toFile: dir + "/passwd", atomically: true, encoding: .utf8)
        let port = Self.freePort()
        let pop3 = try DaemonProcess("pop3", arguments: [
            "--set", "ipc.directory=\(dir)", "--set", "queue.maildir_root=\(dir)/mail", "--set", "pop3.listen=127.0.0.1:\(port)",
            "--set", "pop3.passwd_file=\(dir)/passwd", "--set", "pop3.max_sessions=1000", "--set", "pop3.max_sessions_per_address=1000",
        ], stderrPath: dir + "/pop3.log", wrapper: ["/usr/bin/prlimit", "--nofile=64:64"])
        try await TestSupport.eventually { pop3LogReady(dir) }
        // More connections than the daemon has descriptors: the rest wait in the backlog and
        // every accept of them fails with EMFILE.
        var held: [Int32] = []
        for _ in 0..<100 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if connected == 0 { held.append(fd) } else { close(fd) }
        }
        try await TestSupport.eventually { pop3.stderr.contains("accepting a connection: ") }
        #expect(kill(pop3.pid, 0) == 0, "pop3 exited: \(pop3.stderr)")
        for fd in held { close(fd) }
        let greeting = Locked("")
        try await TestSupport.eventually {
            guard let client = try? LineClient(port: port) else { return false }
            let line = (try? await client.line()) ?? ""
            greeting.withLock { $0 = line }
            return line.hasPrefix("+OK")
        }
        #expect(greeting.withLock { $0 }.hasPrefix("+OK"), "no greeting after the descriptors were freed: \(pop3.stderr.suffix(2000))")
        #expect(try await pop3.stop() == 0)
    }

    @Test("Python's poplib fetches the same bytes, deletes, and the login registers 127.0.0.1 with drac")
    func poplib() async throws {
        let stack = try await start()
        let messages = ["From: a@example.test\nSubject: one\n\nHello\n.starts with a dot\n",
                        "Subject: two\n\n" + String(repeating: String(repeating: "0123456789", count: 7) + "\n", count: 3000)]
        for m in messages { try Maildir(path: stack.dir + "/mail/you").deliver(Array(m.utf8)) }
        #expect(try await stack.dracList().isEmpty)
        let run = try await TestSupport.runAsync(["/usr/bin/python3", TestSupport.packageRoot + "/Tests/Interop/poplib_fetch.py",
                                                  "\(stack.port)", "you", "secret1", "--delete"])
        #expect(run.status == 0, "\(run.stderr)")
        let result = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as! [String: Any]
        #expect((result["login"] as? String)?.hasPrefix("+OK 2 messages") == true)
        let fetched = (result["messages"] as! [[String: Any]]).map { $0["hex"] as! String }
        #expect(fetched == messages.map { Data($0.utf8).map { String(format: "%02x", $0) }.joined() }, "same bytes")
        #expect((result["capa"] as! [String]).contains("UIDL"))
        #expect(try await stack.dracList().hasPrefix("127.0.0.1\t"), "POP-before-SMTP: the client is authorized")
        #expect(try FileManager.default.contentsOfDirectory(atPath: stack.dir + "/mail/you/cur").isEmpty, "deleted at QUIT")
        try await stack.stop()
        #expect(stack.pop3.stderr.contains("pop3 login user=you client=127.0.0.1 messages=2"))
        #expect(stack.pop3.stderr.contains("pop3 logout user=you client=127.0.0.1 retrieved=2/"))
    }

    @Test("APOP through poplib")
    func poplibAPOP() async throws {
        let stack = try await start()
        let run = try await TestSupport.runAsync(["/usr/bin/python3", TestSupport.packageRoot + "/Tests/Interop/poplib_fetch.py",
                                                  "\(stack.port)", "user2", "apopsecret", "--apop"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("\"login\": \"+OK 0 messages (0 octets)\""))
        try await stack.stop()
    }

    @Test("fetchmail fetches every message into an MDA, byte for byte")
    func fetchmail() async throws {
        let stack = try await start()
        let messages = ["From: a@example.test\nTo: you@domain1.com\nSubject: f1\nMessage-ID: <f1@example.test>\n\nbody one\n",
                        "From: b@example.test\nTo: you@domain1.com\nSubject: f2\nMessage-ID: <f2@example.test>\n\n..dots\nend\n"]
        for m in messages { try Maildir(path: stack.dir + "/mail/you").deliver(Array(m.utf8)) }
        let out = stack.dir + "/fetched"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let rc = stack.dir + "/fetchmailrc"
        try """
        set no bouncemail
        poll 127.0.0.1 with proto POP3 port \(stack.port) auth password
          user "you" there with password "secret1" is "you" here
          sslproto '' no sslcertck
          mda "/bin/sh -c 'cat > \(out)/msg.$$'"
        """.write(toFile: rc, atomically: true, encoding: .utf8)
        chmod(rc, 0o600)
        let run = try await TestSupport.runAsync(["/usr/bin/fetchmail", "-f", rc, "--nodetach", "--nosyslog", "-i", stack.dir + "/fetchids",
                                                  "--pidfile", stack.dir + "/fetchmail.pid"])
        #expect(run.status == 0, "fetchmail: \(run.stdout) \(run.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(files.count == 2)
        let bodies = try files.map { try String(contentsOfFile: out + "/" + $0, encoding: .utf8) }
        for message in messages {
            // fetchmail adds its own Received: line on top; the message itself follows unchanged.
            #expect(bodies.contains { $0.hasSuffix(message) }, "\(message.prefix(40))")
        }
        #expect(try await stack.dracList().hasPrefix("127.0.0.1\t"))
        try await stack.stop()
    }

    @Test("over IPv6: a login from ::1 registers ::1")
    func ipv6() async throws {
        let stack = try await start()
        let run = try await TestSupport.runAsync(["/usr/bin/python3", "-c", """
            import poplib
            p = poplib.POP3("::1", \(stack.port), timeout=10)
            p.user("you"); print(p.pass_("secret1").decode()); p.quit()
            """])
        #expect(run.stdout == "+OK 0 messages (0 octets)\n", "\(run.stderr)")
        #expect(try await stack.dracList().hasPrefix("::1\t"))
        try await stack.stop()
        #expect(stack.pop3.stderr.contains("pop3 login user=you client=::1 "))
    }

    @Test("with drac-registry down, logins still succeed and the failure is logged")
    func registryDown() async throws {
        let stack = try await start()
        #expect(try await stack.drac.stop() == 0)
        let run = try await TestSupport.runAsync(["/usr/bin/python3", TestSupport.packageRoot + "/Tests/Interop/poplib_fetch.py",
                                                  "\(stack.port)", "you", "secret1"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try await stack.pop3.stop() == 0)
        #expect(stack.pop3.stderr.contains("pop3 drac registration of 127.0.0.1 failed (login goes on)"))
    }
}
