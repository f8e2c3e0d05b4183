import Foundation
import Testing
import TestSupport

/// STLS (RFC 2595) on the pop3 binary with a test certificate, through Python's poplib and ssl.
@Suite("POP3 STLS", .serialized)
struct POP3TLSTests {
    func start() async throws -> (dir: String, port: Int, pop3: DaemonProcess) {
        let dir = try TestSupport.temporaryDirectory("stls")
        try POP3Fixture.passwdText.write(toFile: dir + "/passwd", atomically: true, encoding: .utf8)
        let cert = try await TestSupport.runAsync(["/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                                                   "-subj", "/CN=host.domain.com", "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem"])
        #expect(cert.status == 0, "\(cert.stderr)")
        let port = TestSupport.freePorts()
        let pop3 = try DaemonProcess("pop3", arguments: [
            "--set", "ipc.directory=\(dir)", "--set", "queue.maildir_root=\(dir)/mail", "--set", "pop3.listen=127.0.0.1:\(port)",
            "--set", "pop3.passwd_file=\(dir)/passwd", "--set", "pop3.tls_certificate=\(dir)/cert.pem",
            "--set", "pop3.tls_key=\(dir)/key.pem", "--set", "pop3.failure_delay=0s",
        ], stderrPath: dir + "/pop3.log")
        try await TestSupport.eventually { pop3.stderr.contains("pop3 ready") }
        return (dir, port, pop3)
    }

    func script(_ port: Int, _ mode: String) async throws -> [String: Any] {
        let run = try await TestSupport.runAsync(["/usr/bin/python3", TestSupport.packageRoot + "/Tests/Interop/pop3_stls.py",
                                                  "\(port)", "you", "secret1", mode])
        #expect(run.status == 0, "\(run.stderr)")
        return (try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    @Test("CAPA offers STLS; after it the session is TLS and STLS is no longer offered; login works")
    func login() async throws {
        let (_, port, pop3) = try await start()
        let result = try await script(port, "login")
        #expect((result["capa_before"] as? [String])?.contains("STLS") == true)
        #expect(result["stls"] as? String == "+OK Begin TLS negotiation")
        #expect((result["cipher"] as? String)?.hasPrefix("TLS") == true)
        #expect((result["capa_after"] as? [String])?.contains("STLS") == false)
        #expect((result["login"] as? String)?.hasPrefix("+OK") == true)
        #expect(try await pop3.stop() == 0)
        #expect(pop3.stderr.contains("pop3 TLS started client=127.0.0.1"))
        #expect(pop3.stderr.contains("pop3 login user=you client=127.0.0.1 messages=0 octets=0 tls=yes"))
    }

    @Test("commands pipelined in plaintext behind STLS are discarded, not run inside TLS")
    func injection() async throws {
        let (_, port, pop3) = try await start()
        let result = try await script(port, "inject")
        #expect(result["stls"] as? String == "+OK Begin TLS negotiation")
        #expect(result["after_tls"] as? String == "-ERR Not allowed before login", "the injected USER/PASS did not log in")
        _ = try await pop3.stop()
        #expect(!pop3.stderr.contains("pop3 login user=you"))
    }
}
