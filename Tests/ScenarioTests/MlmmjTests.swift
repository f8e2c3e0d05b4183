import Foundation
import Testing
import TestSupport

/// A real mailing-list manager behind an alias: Debian's mlmmj (unpacked into .build/mlmmj by
/// scripts/install-deps.sh, never installed: it depends on an MTA) as the seed's
/// info@domain1.com list, `info: "|/usr/bin/mlmmj-receive -L .../info/"`. Two local users and a
/// remote address subscribe through the list's own info+subscribe address; a post reaches both
/// Maildirs and the remote one at a loopback smtp-sink. mlmmj sends everything back through
/// smtp-in over loopback, as it would on a real host.
@Suite("mlmmj behind an alias")
struct MlmmjTests {
    static let root = TestSupport.packageRoot + "/.build/mlmmj"

    func send(_ port: Int, from: String, to: String, subject: String) async throws -> String {
        try await TestSupport.runAsync(["/usr/bin/swaks", "--server", "127.0.0.1:\(port)", "--from", from, "--to", to,
                                        "--header", "Subject: \(subject)", "--body", "\(subject) body"]).stdout
    }

    @Test("subscribe two local users and a remote address through info+subscribe, post, and see the post in both Maildirs and at the sink")
    func list() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.root + "/usr/bin/mlmmj-receive"),
                     "mlmmj is not unpacked in .build/mlmmj: run scripts/install-deps.sh")
        let sink = try await SMTPSink()
        let base = try TestSupport.temporaryDirectory("mlmmj")
        chmod(base, 0o755)
        // smrsh: mlmmj-receive finds mlmmj-process and mlmmj-send beside the name it was run by.
        let smrsh = base + "/smrsh"
        try FileManager.default.createDirectory(atPath: smrsh, withIntermediateDirectories: true)
        for tool in ["mlmmj-receive", "mlmmj-process", "mlmmj-send", "mlmmj-sub", "mlmmj-unsub", "mlmmj-bounce"] {
            try FileManager.default.createSymbolicLink(atPath: "\(smrsh)/\(tool)", withDestinationPath: "\(Self.root)/usr/bin/\(tool)")
        }
        let stack = try await StackHarness(extra: ["local.smrsh_directory=\(smrsh)", "outbound.smart_host=[127.0.0.1]:\(sink.port)"],
                                           aliases: "\ninfo: \"|/usr/bin/mlmmj-receive -L \(base)/info/\"\n")
        // The list, as mlmmj-make-ml lays it out, owned by the user programs run as (nobody).
        let list = base + "/info"
        for dir in ["incoming", "queue", "queue/discarded", "archive", "text", "subconf", "unsubconf", "bounce", "control",
                    "moderation", "subscribers.d", "digesters.d", "requeue", "nomailsubs.d"] {
            try FileManager.default.createDirectory(atPath: "\(list)/\(dir)", withIntermediateDirectories: true)
        }
        let control = ["listaddress": "info@domain1.com", "owner": "you@domain1.com", "relayhost": "127.0.0.1",
                       "smtpport": "\(stack.smtpPort)", "nosubconfirm": "", "delimiter": "+"]
        for (name, value) in control { try (value.isEmpty ? "" : value + "\n").write(toFile: "\(list)/control/\(name)", atomically: true, encoding: .utf8) }
        let texts = Self.root + "/usr/share/mlmmj/text.skel/en"
        for text in try FileManager.default.contentsOfDirectory(atPath: texts) {
            try FileManager.default.copyItem(atPath: "\(texts)/\(text)", toPath: "\(list)/text/\(text)")
        }
        let chown = try await TestSupport.runAsync(["/usr/bin/chown", "-R", "65534:65534", list])
        #expect(chown.status == 0)

        for subscriber in ["you@domain1.com", "user2@domain1.com", "far@remote.test"] {
            let reply = try await send(stack.smtpPort, from: subscriber, to: "info+subscribe@domain1.com", subject: "subscribe")
            #expect(reply.contains("<-  250 2.0.0 "), "\(subscriber): \(reply)")
        }
        try await TestSupport.eventually {
            let subscribers = ((try? FileManager.default.contentsOfDirectory(atPath: list + "/subscribers.d")) ?? [])
                .compactMap { try? String(contentsOfFile: "\(list)/subscribers.d/\($0)", encoding: .utf8) }.joined()
            return ["you@domain1.com", "user2@domain1.com", "far@remote.test"].allSatisfy(subscribers.contains)
        }
        let reply = try await send(stack.smtpPort, from: "user2@domain1.com", to: "info@domain1.com", subject: "first post")
        #expect(reply.contains("<-  250 2.0.0 "), "\(reply)")
        @Sendable func posted(_ messages: [String]) -> Bool { messages.contains { $0.contains("Subject: first post") && $0.contains("first post body") } }
        try await TestSupport.eventually { posted(stack.mailbox("you")) && posted(stack.mailbox("user2")) && posted(sink.messages) }
        let copy = sink.messages.first { $0.contains("Subject: first post") } ?? ""
        #expect(copy.contains("X-Rcpt-Args: <far@remote.test>"), "\(copy.prefix(600))")
        #expect(copy.contains("X-Mail-Args: <info+bounces-"), "mlmmj's own bounce address is the envelope sender: \(copy.prefix(600))")
        #expect(stack.log("queue").contains("to=<|/usr/bin/mlmmj-receive -L \(base)/info/> (alias info)"))
        _ = try await stack.stopAll()
    }
}
