import Foundation
import Testing
import TestSupport

/// An alias's programs through the whole stack (smtp-in, relay-policy's aliases, the queue,
/// local-delivery running them behind smrsh as an unprivileged user): what the program gets,
/// and what the sender receives when it succeeds, fails, asks for a retry (EX_TEMPFAIL) or
/// runs past its time; a list's program that was delivered is never run again on a retry.
@Suite("alias programs in the stack")
struct ProgramAliasTests {
    /// A program for smrsh: `probe MODE DIR` stores its stdin and environment in DIR, then
    /// succeeds, fails with words, asks for a retry, or hangs.
    static let probe = """
        #!/bin/sh
        dir="$2"
        n=$(ls "$dir" | wc -l)
        cat > "$dir/message.$n"
        echo "uid=$(id -u) SENDER=$SENDER RECIPIENT=$RECIPIENT ORIGINAL_RECIPIENT=$ORIGINAL_RECIPIENT" > "$dir/env.$n"
        case "$1" in
        ok) exit 0 ;;
        fail) echo "no such list here"; exit 1 ;;
        tempfail) exit 75 ;;
        slow) sleep 60 ;;
        esac

        """

    struct Stack {
        let stack: StackHarness
        let out: String

        func runs(_ name: String) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "\(out)/\(name)")) ?? []).filter { $0.hasPrefix("message.") }
        }

        func file(_ name: String, _ file: String) -> String { (try? String(contentsOfFile: "\(out)/\(name)/\(file)", encoding: .utf8)) ?? "" }
    }

    func start() async throws -> Stack {
        let out = try TestSupport.temporaryDirectory("programs")
        let smrsh = out + "/smrsh"
        try FileManager.default.createDirectory(atPath: smrsh, withIntermediateDirectories: true)
        try TestSupport.writeExecutable(smrsh + "/probe", Self.probe)
        chmod(out, 0o755)
        var aliases = "\n"
        for name in ["ok", "fail", "tempfail", "slow", "list-ok", "list-temp"] {
            try FileManager.default.createDirectory(atPath: "\(out)/\(name)", withIntermediateDirectories: true)
            chmod("\(out)/\(name)", 0o777) // the programs run as nobody
        }
        for mode in ["ok", "fail", "tempfail", "slow"] { aliases += "p-\(mode): \"|probe \(mode) \(out)/\(mode)\"\n" }
        aliases += "p-list: \"|probe ok \(out)/list-ok\", \"|probe tempfail \(out)/list-temp\"\n"
        let stack = try await StackHarness(extra: [
            "local.smrsh_directory=\(smrsh)", "local.program_timeout=1s",
            "queue.min_age=1s", "queue.warn_after=3s", "queue.return_after=1h",
        ], aliases: aliases)
        return Stack(stack: stack, out: out)
    }

    func send(_ stack: StackHarness, to: String, id: String) async throws -> String {
        try await TestSupport.runAsync(["/usr/bin/swaks", "--server", "127.0.0.1:\(stack.smtpPort)", "--from", "user2@domain1.com",
                                        "--to", to, "--header", "Message-ID: \(id)", "--header", "Subject: program"]).stdout
    }

    @Test("exit 0: delivered; the program read the message with Delivered-To and got the envelope, as an unprivileged user")
    func delivered() async throws {
        let s = try await start()
        #expect(try await send(s.stack, to: "p-ok@host.domain.com", id: "<ok@test>").contains("<-  250 2.0.0 "))
        try await TestSupport.eventually { s.stack.log("queue").contains("to=<|probe ok \(s.out)/ok> (alias p-ok)") && s.stack.log("queue").contains("stat=Sent") }
        #expect(s.runs("ok").count == 1)
        let message = s.file("ok", "message.0")
        #expect(message.hasPrefix("Delivered-To: p-ok@host.domain.com\n"), "\(message.prefix(200))")
        #expect(message.contains("Message-ID: <ok@test>") && !message.contains("\r"))
        #expect(s.file("ok", "env.1").isEmpty && s.file("ok", "env.0") ==
            "uid=65534 SENDER=user2@domain1.com RECIPIENT=p-ok@host.domain.com ORIGINAL_RECIPIENT=p-ok@host.domain.com\n")
        #expect(s.stack.mailbox("user2").isEmpty, "no report for a delivery nobody asked about")
        _ = try await s.stack.stopAll()
    }

    @Test("a failing program: the sender gets the bounce with sendmail's words and what the program said")
    func failed() async throws {
        let s = try await start()
        _ = try await send(s.stack, to: "p-fail@host.domain.com", id: "<fail@test>")
        try await TestSupport.eventually { s.stack.mailbox("user2").contains { $0.contains("Subject: Returned mail") } }
        let bounce = s.stack.mailbox("user2").first { $0.contains("Subject: Returned mail") } ?? ""
        #expect(bounce.contains("Status: 5.3.0"), "\(bounce)")
        #expect(bounce.contains("unknown mailer error 1 (program said: no such list here)"), "\(bounce)")
        #expect(s.runs("fail").count == 1)
        _ = try await s.stack.stopAll()
    }

    @Test("EX_TEMPFAIL and a program past its time: retried on the queue's schedule, the sender warned after warn_after, nothing bounced")
    func retried() async throws {
        let s = try await start()
        _ = try await send(s.stack, to: "p-tempfail@host.domain.com", id: "<temp@test>")
        _ = try await send(s.stack, to: "p-slow@host.domain.com", id: "<slow@test>")
        try await TestSupport.eventually { s.runs("tempfail").count >= 2 && s.runs("slow").count >= 2 }
        try await TestSupport.eventually { s.stack.mailbox("user2").filter { $0.contains("Subject: Warning: could not send message") }.count == 2 }
        let warnings = s.stack.mailbox("user2").joined()
        #expect(warnings.contains("Status: 4.0.0") && warnings.contains("Deferred"), "\(warnings)")
        #expect(warnings.contains("Status: 4.4.7") && warnings.contains("timed out"), "\(warnings)")
        #expect(!warnings.contains("Returned mail"))
        let mailq = try await TestSupport.runAsync([TestSupport.binary("mailstack"), "mailq", "--set", "ipc.directory=\(s.stack.dir)"])
        #expect(mailq.stdout.contains("<p-tempfail@host.domain.com>") && mailq.stdout.contains("<p-slow@host.domain.com>"), "\(mailq.stdout)")
        _ = try await s.stack.stopAll()
    }

    @Test("a list of two programs, one asking for a retry: the one that succeeded runs once, however often the other is retried")
    func neverTwice() async throws {
        let s = try await start()
        _ = try await send(s.stack, to: "p-list@host.domain.com", id: "<list@test>")
        try await TestSupport.eventually { s.runs("list-temp").count >= 3 }
        #expect(s.runs("list-ok").count == 1)
        _ = try await s.stack.stopAll()
    }
}
