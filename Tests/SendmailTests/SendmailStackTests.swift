import Foundation
import IPC
import IPCTransport
import Logging
import NIOCore
import TestSupport
import Testing

/// The sendmail binary against the real relay-policy and queue (StackHarness): messages from
/// root and from an unprivileged user (setpriv to nobody, uid 65534) land in the Maildirs with
/// the fields the queue adds, -t, -f and its warning, -bs, mailq and newaliases by their names,
/// the per-uid limit, a stopped queue, and submit.sock answering nothing but local submission.
@Suite("Sendmail command against the stack", .serialized)
struct SendmailStackTests {
    static let binary = TestSupport.binary("sendmail")
    static let nobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

    static func stack(_ extra: [String] = []) async throws -> StackHarness {
        try await StackHarness(services: ["relay-policy", "queue"], extra: extra)
    }

    /// Runs `program` (the sendmail binary, or a link to it) with the stack's settings.
    static func run(_ stack: StackHarness, _ arguments: [String], input: String = "", asNobody: Bool = false,
                    program: String = binary) async throws -> TestSupport.Result {
        let command = [program] + arguments + stack.settings.flatMap { ["--set", $0] }
        return try await TestSupport.runAsync((asNobody ? nobody : []) + command, input: Array(input.utf8))
    }

    @Test("echo body | sendmail you@domain1.com: delivered with From:, Date:, Message-ID: and a Received: naming the user")
    func plainMessage() async throws {
        let stack = try await Self.stack()
        let sent = try await Self.run(stack, ["you@domain1.com"], input: "body\n", asNobody: true)
        #expect(sent.status == 0 && sent.stdout.isEmpty && sent.stderr.isEmpty, "\(sent)")
        try await TestSupport.eventually { stack.mailbox("you").count == 1 }
        let mail = stack.mailbox("you")[0]
        #expect(mail.contains("Received: (from nobody@localhost)\n\tby host.domain.com id "))
        #expect(mail.contains("\n\tfor <you@domain1.com>; "))
        #expect(mail.contains("\nFrom: nobody <nobody@domain.com>\n"))
        #expect(mail.contains("\nDate: ") && mail.contains("\nMessage-ID: <"))
        #expect(mail.contains("Return-Path: <nobody@domain.com>"))
        #expect(!mail.contains("X-Authentication-Warning"))
        #expect(mail.hasSuffix("\n\nbody\n"))
        // A lone dot ends the input unless -i (-oi); an unqualified name goes through the aliases (root: you).
        #expect(try await Self.run(stack, ["root"], input: "Subject: dot\n\nline\n.\nafter\n").status == 0)
        #expect(try await Self.run(stack, ["-oi", "you@domain1.com"], input: "Subject: oi\n\nline\n.\nafter\n").status == 0)
        try await TestSupport.eventually { stack.mailbox("you").count == 3 }
        let dot = try #require(stack.mailbox("you").first { $0.contains("Subject: dot") })
        #expect(dot.hasSuffix("\n\nline\n") && dot.contains("Received: (from root@localhost)") && dot.contains("\n\tfor <root@host.domain.com>; "))
        let oi = try #require(stack.mailbox("you").first { $0.contains("Subject: oi") })
        #expect(oi.hasSuffix("\n\nline\n.\nafter\n"))
        #expect(stack.log("queue").contains("local submission by nobody (uid 65534), sender=<nobody@domain.com>"))
        _ = try await stack.stopAll()
    }

    @Test("sendmail -t: To, Cc and Bcc each get the message once, and no delivered copy has a Bcc:")
    func extractRecipients() async throws {
        let stack = try await Self.stack()
        let message = "To: you@domain1.com\nCc: User Two <user2@domain1.com>\nBcc: user4@domain2.tv,\n you@domain1.com\nSubject: t\n\nhello\n"
        let sent = try await Self.run(stack, ["-t", "-i"], input: message)
        #expect(sent.status == 0, "\(sent)")
        try await TestSupport.eventually { ["you", "user2", "user4"].allSatisfy { stack.mailbox($0).count == 1 } }
        for user in ["you", "user2", "user4"] {
            let mail = stack.mailbox(user)[0]
            #expect(!mail.lowercased().contains("bcc"), "\(user)")
            #expect(mail.contains("\nTo: you@domain1.com\nCc: User Two <user2@domain1.com>\nSubject: t\n"), "\(user)")
            #expect(mail.contains("\nFrom: root <root@domain.com>\n") || mail.contains("\nFrom: root@domain.com\n"), "\(user)")
        }
        // No recipient anywhere: 67.
        let none = try await Self.run(stack, ["-t"], input: "To: undisclosed-recipients:;\nSubject: x\n\nx\n")
        #expect(none.status == 67 && none.stderr.contains("No recipient addresses found in header"), "\(none)")
        _ = try await stack.stopAll()
    }

    @Test("-f: an unprivileged user's sender gets sendmail's X-Authentication-Warning:, root's none; the user is the kernel's")
    func senderWarning() async throws {
        let stack = try await Self.stack()
        #expect(try await Self.run(stack, ["-f", "root@domain1.com", "you@domain1.com"], input: "Subject: nobody\n\nx\n", asNobody: true).status == 0)
        #expect(try await Self.run(stack, ["-froot@domain1.com", "-F", "The Admin", "you@domain1.com"], input: "Subject: root\n\nx\n").status == 0)
        try await TestSupport.eventually { stack.mailbox("you").count == 2 }
        let forged = try #require(stack.mailbox("you").first { $0.contains("Subject: nobody") })
        // The request carried root@domain1.com as the sender; the queue names the peer the kernel gave it.
        #expect(forged.contains("Received: (from nobody@localhost)"))
        #expect(forged.contains("\nX-Authentication-Warning: host.domain.com: nobody set sender to root@domain1.com using -f\n"))
        #expect(forged.contains("Return-Path: <root@domain1.com>") && forged.contains("\nFrom: root@domain1.com\n"))
        let root = try #require(stack.mailbox("you").first { $0.contains("Subject: root") })
        #expect(root.contains("Received: (from root@localhost)") && !root.contains("X-Authentication-Warning"))
        #expect(root.contains("\nFrom: The Admin <root@domain1.com>\n"))
        _ = try await stack.stopAll()
    }

    @Test("sendmail -bs: an SMTP session on stdin and stdout delivers (and warns about an unprivileged MAIL FROM)")
    func smtpSession() async throws {
        let stack = try await Self.stack()
        let script = "EHLO client.test\r\nMAIL FROM:<root@domain1.com>\r\nRCPT TO:<you@domain1.com>\r\nDATA\r\nSubject: bs\r\n\r\n..dot\r\n.\r\nQUIT\r\n"
        let session = try await Self.run(stack, ["-bs"], input: script, asNobody: true)
        #expect(session.status == 0, "\(session)")
        let replies = session.stdout.split(separator: "\r\n").map { String($0.prefix(3)) }
        #expect(replies == ["220"] + Array(repeating: "250", count: 9) + ["354", "250", "221"], "\(session.stdout)")
        #expect(session.stdout.hasPrefix("220 host.domain.com ESMTP Domain YOU/Original; "))
        #expect(session.stdout.contains("Message accepted for delivery\r\n221 2.0.0 host.domain.com closing connection\r\n"))
        try await TestSupport.eventually { stack.mailbox("you").count == 1 }
        let mail = stack.mailbox("you")[0]
        #expect(mail.contains("Received: from client.test (nobody@localhost)\n\tby host.domain.com id "))
        #expect(mail.contains("\nX-Authentication-Warning: host.domain.com: nobody owned process doing -bs\n"))
        #expect(mail.hasSuffix("\n\n.dot\n"))
        _ = try await stack.stopAll()
    }

    @Test("mailq and newaliases by their names, -bp, -bi and -q; a stopped queue exits 75 and says why")
    func namesAndQueueDown() async throws {
        let stack = try await Self.stack()
        let links = try TestSupport.temporaryDirectory("names")
        for name in ["mailq", "newaliases"] { try FileManager.default.createSymbolicLink(atPath: "\(links)/\(name)", withDestinationPath: Self.binary) }
        // Remote mail stays queued (no smtpfeed-out): mailq shows it.
        #expect(try await Self.run(stack, ["user3@domain1.com"], input: "Subject: out\n\nx\n").status == 0)
        try await TestSupport.eventually { stack.log("queue").contains("to=<user3@domain1.com>") }
        let mailq = try await Self.run(stack, [], program: "\(links)/mailq")
        #expect(mailq.status == 0 && mailq.stdout.contains("Mail Queue (1 request)") && mailq.stdout.contains("<root@domain.com>"), "\(mailq)")
        let bp = try await Self.run(stack, ["-bp"])
        #expect(bp.status == 0 && bp.stdout.contains("Mail Queue (1 request)"))
        let outsider = try await Self.run(stack, [], asNobody: true, program: "\(links)/mailq")
        #expect(outsider.status == 77 && outsider.stderr.contains("mailq is allowed to administrators only"), "\(outsider)")
        #expect(try await Self.run(stack, ["-q"]).status == 0)
        try FileManager.default.removeItem(atPath: stack.dir + "/aliases.db")
        let newaliases = try await Self.run(stack, [], program: "\(links)/newaliases")
        #expect(newaliases.status == 0 && newaliases.stderr.contains("\(stack.dir)/aliases: 5 aliases"), "\(newaliases)")
        #expect(FileManager.default.fileExists(atPath: stack.dir + "/aliases.db"))
        #expect(try await Self.run(stack, ["-bi"]).status == 0)

        try await stack.stop("queue")
        let down = try await Self.run(stack, ["you@domain1.com"], input: "x\n")
        #expect(down.status == 75, "\(down)")
        #expect(down.stderr.contains("sendmail: cannot submit: the queue is unavailable") && down.stderr.contains("\(stack.dir)/submit.sock"))
        #expect(down.stderr.contains("the message was not sent, try again later"))
        #expect(try await Self.run(stack, ["-bp"]).status == 69)
        _ = try await stack.stopAll()
    }

    @Test("usage errors exit 64 and no recipients 67, before anything is read or sent")
    func usageAndNoRecipients() async throws {
        let usage = try await TestSupport.runAsync([Self.binary, "-k", "you@domain1.com"])
        #expect(usage.status == 64 && usage.stderr.contains("sendmail: invalid option -- k") && usage.stderr.contains("usage: sendmail"))
        let none = try await TestSupport.runAsync([Self.binary, "-i"])
        #expect(none.status == 67 && none.stderr == "sendmail: Recipient names must be specified\n")
        let config = try await TestSupport.runAsync([Self.binary, "-C", "/nonexistent/mailstack.yaml", "x"])
        #expect(config.status == 78 && config.stderr.contains("configuration refused"))
    }

    @Test("submit.max_messages_per_minute: past it the command exits 75 with the reason; root is not limited")
    func perUserLimit() async throws {
        let stack = try await Self.stack(["submit.max_messages_per_minute=2"])
        for _ in 0..<2 { #expect(try await Self.run(stack, ["you@domain1.com"], input: "x\n", asNobody: true).status == 0) }
        let limited = try await Self.run(stack, ["you@domain1.com"], input: "x\n", asNobody: true)
        #expect(limited.status == 75, "\(limited)")
        #expect(limited.stderr.contains("nobody has sent 2 messages within a minute (submit.max_messages_per_minute); try again later"))
        for _ in 0..<3 { #expect(try await Self.run(stack, ["you@domain1.com"], input: "x\n").status == 0) }
        try await TestSupport.eventually { stack.mailbox("you").count == 5 }
        _ = try await stack.stopAll()
    }

    @Test("submit.sock: mode 0666 and only queue.submitLocal; any other request closes the connection")
    func submitSocketAnswersOneRequest() async throws {
        let stack = try await Self.stack()
        var info = stat()
        #expect(stat(stack.dir + "/submit.sock", &info) == 0 && info.st_mode & 0o777 == 0o666)
        for request in [IPCBody.queueList(.init()), .queueFlush(.init()),
                        .queueSubmit(.with { $0.sender = "a@b"; $0.recipients = [.with { $0.address = "you@domain1.com" }] })] {
            let client = IPCClient(configuration: .init(path: stack.dir + "/submit.sock", service: "queue", clientName: "smtp-in"),
                                   logger: Logger(label: "test"))
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await client.run() }
                defer { group.cancelAll() }
                await #expect(throws: IPCError.remote(code: Mailstack_Ipc_Error.Code.permissionDenied.rawValue,
                                                      message: "\(IPCEnvelope(id: 1, body: request).typeName) is not answered on this socket")) {
                    if case .queueSubmit = request {
                        _ = try await client.request(request, streaming: AsyncStream { $0.yield(ByteBuffer(string: "x\r\n")); $0.finish() })
                    } else {
                        _ = try await client.request(request)
                    }
                }
            }
        }
        #expect(stack.log("queue").contains("ipc queue.list refused: this socket answers only queue.submitLocal"))
        _ = try await stack.stopAll()
    }
}
