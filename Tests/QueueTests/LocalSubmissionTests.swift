import Foundation
import IPC
import IPCTransport
import Logging
import NIOCore
import QueueService
import SMTP
import TestSupport
import Testing

/// Local submission in the queue (what submit.sock's requests run): the message made into CRLF
/// lines with a complete header, who the sender is and when sendmail's warning is written (a
/// decision table), the per-uid limit on the queue's clock, and whole submissions through a
/// queue in this process with real Maildirs.
@Suite("Queue local submission")
struct LocalSubmissionTests {
    static let prefix = "Received: x\r\n"
    static let from = "From: nobody@domain.com\r\n"

    static func normalize(_ input: String, limit: Int = 1 << 20, pieces: Int = 0) throws -> String {
        var normalizer = LocalMessageNormalizer(prefix: Array(prefix.utf8), from: Array(from.utf8), limit: limit, maxHeader: 200)
        let bytes = Array(input.utf8)
        var out: [UInt8] = []
        if pieces > 0 {
            for start in stride(from: 0, to: bytes.count, by: pieces) { out += try normalizer.feed(bytes[start..<min(start + pieces, bytes.count)]) }
        } else {
            out += try normalizer.feed(bytes)
        }
        out += try normalizer.finish()
        return String(decoding: out, as: UTF8.self)
    }

    @Test("CRLF lines, the header closed by a blank line, From: added when missing (any pieces alike)", arguments: [
        ("body\n", "Received: x\r\nFrom: nobody@domain.com\r\n\r\nbody\r\n"),
        ("Subject: s\nTo: you\n\nbody\nlast", "Received: x\r\nSubject: s\r\nTo: you\r\nFrom: nobody@domain.com\r\n\r\nbody\r\nlast\r\n"),
        ("From: Me <me@x>\r\n folded\r\n\r\n.\r\n", "Received: x\r\nFrom: Me <me@x>\r\n folded\r\n\r\n.\r\n"),
        ("Subject: s\nnot a field\nx\n", "Received: x\r\nSubject: s\r\nFrom: nobody@domain.com\r\n\r\nnot a field\r\nx\r\n"),
        ("", "Received: x\r\nFrom: nobody@domain.com\r\n\r\n"),
        ("Subject: only", "Received: x\r\nSubject: only\r\nFrom: nobody@domain.com\r\n\r\n"),
        ("a\rb\r\r\nc\n\rd", "Received: x\r\nFrom: nobody@domain.com\r\n\r\na\r\nb\r\n\r\nc\r\n\r\nd\r\n"),
        (" starts folded\n", "Received: x\r\nFrom: nobody@domain.com\r\n\r\n starts folded\r\n"),
        ("Subject: s\r\rbody", "Received: x\r\nSubject: s\r\nFrom: nobody@domain.com\r\n\r\nbody\r\n"),
    ])
    func normalizer(input: String, output: String) throws {
        #expect(try Self.normalize(input) == output)
        for size in [1, 2, 3, 7] { #expect(try Self.normalize(input, pieces: size) == output, "pieces of \(size)") }
    }

    @Test("the user's octets count against the limit, CRLF included; a header over its bound is refused")
    func limits() throws {
        #expect(try Self.normalize("Subject: s\n\n12345\n", limit: 21).hasSuffix("12345\r\n")) // 12 + 2 + 7
        #expect(throws: LocalMessageNormalizer.Failure.tooLarge(limit: 20)) { try Self.normalize("Subject: s\n\n12345\n", limit: 20) }
        #expect(throws: LocalMessageNormalizer.Failure.headerTooLarge(limit: 200)) {
            try Self.normalize(String(repeating: "X-A: 1234567890\n", count: 20) + "\nbody\n")
        }
    }

    static let nobody = LocalUser(uid: 65534, name: "nobody", fullName: "Kernel Overflow User")

    @Test("who the sender is and when sendmail's X-Authentication-Warning: is written", arguments: [
        // (trusted, requested, -bs, authwarnings) -> (envelope, From: address, full name, warning)
        (false, nil, false, true, "nobody@domain.com", "nobody@domain.com", "Kernel Overflow User", nil),
        (false, "root@domain1.com", false, true, "root@domain1.com", "root@domain1.com", "", "nobody set sender to root@domain1.com using -f"),
        (false, "root@domain1.com", true, true, "root@domain1.com", "root@domain1.com", "", "nobody owned process doing -bs"),
        (true, "root@domain1.com", false, true, "root@domain1.com", "root@domain1.com", "", nil),
        (false, "root@domain1.com", false, false, "root@domain1.com", "root@domain1.com", "", nil),
        (false, "nobody", false, true, "nobody@domain.com", "nobody@domain.com", "Kernel Overflow User", nil),
        (false, "nobody@host.domain.com", false, true, "nobody@host.domain.com", "nobody@host.domain.com", "Kernel Overflow User", nil),
        (false, "nobody@localhost", true, true, "nobody@localhost", "nobody@localhost", "Kernel Overflow User", nil),
        (false, "Nobody@host.domain.com", false, true, "Nobody@host.domain.com", "Nobody@host.domain.com", "",
         "nobody set sender to Nobody@host.domain.com using -f"),
        (false, "nobody@elsewhere.test", false, true, "nobody@elsewhere.test", "nobody@elsewhere.test", "",
         "nobody set sender to nobody@elsewhere.test using -f"),
        (false, "", false, true, "", "nobody@domain.com", "", "nobody set sender to <> using -f"),
        (false, "daemon", false, true, "daemon@domain.com", "daemon@domain.com", "", "nobody set sender to daemon using -f"),
    ] as [(Bool, String?, Bool, Bool, String, String, String, String?)])
    func senderDecision(trusted: Bool, requested: String?, smtpSession: Bool, authWarnings: Bool,
                        envelope: String, fromAddress: String, fullName: String, warning: String?) {
        let decided = LocalSender.decide(user: Self.nobody, trusted: trusted, requested: requested, smtpSession: smtpSession, fullName: "",
                                         ownDomain: "domain.com", localNames: ["host.domain.com", "host"], authWarnings: authWarnings)
        #expect(decided == LocalSender(envelope: envelope, fromAddress: fromAddress, fullName: fullName, warning: warning))
    }

    @Test("From: with a full name: atoms as they are, specials quoted, other scripts encoded (RFC 2047)")
    func fromField() {
        #expect(LocalHeader.from(address: "a@b", fullName: "") == "From: a@b\r\n")
        #expect(LocalHeader.from(address: "a@b", fullName: "Ann Example") == "From: Ann Example <a@b>\r\n")
        #expect(LocalHeader.from(address: "a@b", fullName: "Example, Ann \"A.\"") == "From: \"Example, Ann \\\"A.\\\"\" <a@b>\r\n")
        #expect(LocalHeader.from(address: "a@b", fullName: "Zoë") == "From: =?UTF-8?B?Wm/Dqw==?= <a@b>\r\n")
        #expect(LocalUser.gecosName("& Smith,Room 1,555", login: "john") == "John Smith")
    }

    static func submission(_ harness: QueueHarness, configure: (inout LocalSubmission.Settings) -> Void = { _ in }) -> LocalSubmission {
        var settings = LocalSubmission.Settings()
        settings.hostname = "host.domain.com"
        settings.senderDomain = "domain.com"
        settings.localNames = ["host.domain.com", "host", "localhost"]
        configure(&settings)
        let users: [UInt32: LocalUser] = [65534: nobody, 0: LocalUser(uid: 0, name: "root", fullName: "root")]
        return LocalSubmission(queue: harness.queue, settings: settings, logger: Logger(label: "queue") { _ in harness.logs },
                               users: { users[$0] })
    }

    static func submit(_ submission: LocalSubmission, uid: UInt32, _ request: Mailstack_Ipc_QueueSubmitLocal,
                       message: String) async throws -> String {
        let bytes = Array(message.utf8)
        let chunks = stride(from: 0, to: bytes.count, by: 5).map { ByteBuffer(bytes: bytes[$0..<min($0 + 5, bytes.count)]) }
        let body = AsyncStream<ByteBuffer> { continuation in
            for chunk in chunks { continuation.yield(chunk) }
            continuation.finish()
        }
        return try await submission.submit(request, peer: IPCPeer(pid: 1, uid: uid, gid: uid), body: body).id
    }

    static func request(_ recipients: [String], sender: String? = nil) -> Mailstack_Ipc_QueueSubmitLocal {
        .with {
            $0.recipients = recipients.map { address in .with { $0.address = address } }
            if let sender { $0.sender = sender }
        }
    }

    @Test("a local user's message is delivered with the trace and the fields it lacked; the sender is the kernel's uid")
    func delivered() async throws {
        let harness = try QueueHarness()
        try await harness.start()
        let submission = Self.submission(harness)
        let id = try await Self.submit(submission, uid: 65534, Self.request(["you"], sender: "root@domain1.com"), message: "Subject: hi\n\nbody\n")
        try await TestSupport.eventually { harness.mailbox("you").count == 1 }
        let mail = harness.mailbox("you")[0]
        #expect(mail.contains("Received: (from nobody@localhost)\n\tby host.domain.com id \(id)\n\tfor <you@host.domain.com>; "))
        #expect(mail.contains("\nX-Authentication-Warning: host.domain.com: nobody set sender to root@domain1.com using -f\nSubject: hi\n"))
        #expect(mail.contains("\nFrom: root@domain1.com\n"))
        #expect(mail.contains("\nDate: ") && mail.contains("\nMessage-ID: <\(id)@host.domain.com>\n"))
        #expect(mail.contains("Return-Path: <root@domain1.com>\n"))
        #expect(mail.hasSuffix("\n\nbody\n"))
        #expect(harness.logs.text.contains { $0.contains("\(id): local submission by nobody (uid 65534), sender=<root@domain1.com>, X-Authentication-Warning") })
        await harness.stop()
    }

    @Test("refusals: a uid without a passwd entry, bad addresses, a full name with a line break, a message too large")
    func refusals() async throws {
        let harness = try QueueHarness()
        try await harness.start()
        let submission = Self.submission(harness) { $0.maxMessageSize = 100 }
        func refusal(uid: UInt32 = 65534, _ request: Mailstack_Ipc_QueueSubmitLocal, message: String = "x\n") async -> Mailstack_Ipc_Error.Code? {
            do {
                _ = try await Self.submit(submission, uid: uid, request, message: message)
                return nil
            } catch let error as IPCHandlerError {
                return error.code
            } catch {
                return .unspecified
            }
        }
        #expect(await refusal(uid: 4242, Self.request(["you"])) == .permissionDenied)
        #expect(await refusal(Self.request([])) == .badRequest)
        #expect(await refusal(Self.request(["a b@c"])) == .badRequest)
        #expect(await refusal(Self.request(["<a@b>"])) == .badRequest)
        #expect(await refusal(Self.request(["you"], sender: "x\r\nBcc: y")) == .badRequest)
        var named = Self.request(["you"])
        named.fullName = "Name\r\nX-Injected: 1"
        #expect(await refusal(named) == .badRequest)
        #expect(await refusal(Self.request(["you"]), message: String(repeating: "x", count: 99) + "\n") == .tooLarge)
        #expect(harness.mailbox("you").isEmpty)
        await harness.stop()
    }

    @Test("submit.max_messages_per_minute per uid on the queue's clock; root is not counted")
    func rateLimit() async throws {
        let harness = try QueueHarness()
        try await harness.start()
        let submission = Self.submission(harness) { $0.maxPerMinute = 2 }
        for _ in 0..<2 { _ = try await Self.submit(submission, uid: 65534, Self.request(["you"]), message: "x\n") }
        await #expect(throws: IPCHandlerError.self) { try await Self.submit(submission, uid: 65534, Self.request(["you"]), message: "x\n") }
        for _ in 0..<3 { _ = try await Self.submit(submission, uid: 0, Self.request(["you"]), message: "x\n") }
        harness.clock.advance(.seconds(59))
        await #expect(throws: IPCHandlerError.self) { try await Self.submit(submission, uid: 65534, Self.request(["you"]), message: "x\n") }
        harness.clock.advance(.seconds(2))
        _ = try await Self.submit(submission, uid: 65534, Self.request(["you"]), message: "x\n")
        #expect(harness.logs.text.contains { $0.contains("nobody (uid 65534) reached submit.max_messages_per_minute (2)") })
        try await TestSupport.eventually { harness.mailbox("you").count == 6 }
        await harness.stop()
    }
}
