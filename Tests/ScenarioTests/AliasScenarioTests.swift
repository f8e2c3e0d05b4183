import Foundation
import Testing
import TestSupport

/// sendmail's local side through the binaries: the seed's virtusertable names that only the
/// aliases know (root, postmaster, webmaster, MAILER-DAEMON) are accepted at RCPT and land in the
/// administrator's Maildir as the sample etc/mail/aliases says; a list expands to its members
/// with its owner as the envelope sender; a name nobody knows keeps its 550 5.1.1.
@Suite("aliases in the stack")
struct AliasScenarioTests {
    static let services = ["drac-registry", "relay-policy", "smtpfeed-out", "queue", "smtp-in"]

    func send(_ port: Int, to: String, id: String) async throws -> String {
        let run = try await TestSupport.runAsync(["/usr/bin/swaks", "--server", "127.0.0.1:\(port)", "--from", "friend@client.test",
                                                  "--to", to, "--header", "Message-ID: \(id)", "--header", "Subject: aliases"])
        return run.stdout
    }

    @Test("root, postmaster, webmaster, MAILER-DAEMON and abuse: accepted and delivered to the administrator; an unknown name refused")
    func administrative() async throws {
        let stack = try await StackHarness(services: Self.services)
        let names = ["root@domain1.com", "postmaster@domain1.com", "webmaster@domain2.tv", "root@host.domain.com",
                     "MAILER-DAEMON@host.domain.com", "abuse@host.domain.com"]
        for (i, name) in names.enumerated() {
            let reply = try await send(stack.smtpPort, to: name, id: "<admin\(i)@test>")
            #expect(reply.contains("<-  250 2.0.0 "), "\(name): \(reply)")
        }
        try await TestSupport.eventually { stack.mailbox("you").count == names.count }
        for i in names.indices { #expect(stack.mailbox("you").contains { $0.contains("<admin\(i)@test>") }) }
        let unknown = try await send(stack.smtpPort, to: "nobody@host.domain.com", id: "<unknown@test>")
        #expect(unknown.contains("<** 550 5.1.1 <nobody@host.domain.com>... User unknown"), "\(unknown)")
        try await TestSupport.eventually { stack.log("queue").contains("to=<root@domain1.com>, to=<you> (alias root)") }
        _ = try await stack.stopAll()
    }

    @Test("a list: each member once, the owner as envelope sender (Return-Path), members' bounces to the owner")
    func list() async throws {
        let stack = try await StackHarness(services: Self.services, aliases: """

            staff: you, user2, \\user4, staff-gone
            owner-staff: staff-admin
            staff-admin: user4
            staff-gone: error:5.1.6:left the company

            """)
        let reply = try await send(stack.smtpPort, to: "staff@host.domain.com", id: "<list@test>")
        #expect(reply.contains("<-  250 2.0.0 "), "\(reply)")
        try await TestSupport.eventually { stack.mailbox("you").count == 1 && stack.mailbox("user2").count == 1 }
        #expect(stack.mailbox("you").first?.hasPrefix("Return-Path: <owner-staff@host.domain.com>") == true)
        // user4 gets the post (\user4) and, as staff-admin, the bounce of staff-gone.
        try await TestSupport.eventually { stack.mailbox("user4").count == 2 }
        let bounce = stack.mailbox("user4").first { $0.contains("Subject: Returned mail") } ?? ""
        #expect(bounce.contains("To: <owner-staff@host.domain.com>"), "\(bounce)")
        #expect(bounce.contains("Status: 5.1.6") && bounce.contains("left the company"))
        try await TestSupport.eventually { stack.log("queue").contains("stat=Sent") }
        #expect(!(try await TestSupport.runAsync([TestSupport.binary("mailstack"), "mailq", "--set", "ipc.directory=\(stack.dir)"])).stdout.contains("staff"))
        _ = try await stack.stopAll()
    }

    @Test("newaliases while the stack runs: the new alias is known without a restart, and a bad aliases file changes nothing")
    func rebuilt() async throws {
        let stack = try await StackHarness(services: Self.services)
        let before = try await send(stack.smtpPort, to: "sales@host.domain.com", id: "<before@test>")
        #expect(before.contains("<** 550 5.1.1"), "\(before)")
        let file = stack.dir + "/aliases"
        let bad = try String(contentsOfFile: file, encoding: .utf8) + "sales user2\n"
        try bad.write(toFile: file, atomically: true, encoding: .utf8)
        let refused = try await TestSupport.runAsync([TestSupport.binary("mailstack"), "newaliases", file])
        #expect(refused.status == 65 && refused.stderr.contains("line"), "\(refused.stderr)")
        try (bad.replacingOccurrences(of: "sales user2\n", with: "sales: user2\n")).write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try await TestSupport.runAsync([TestSupport.binary("mailstack"), "newaliases", file]).status == 0)
        let accepted = Locked("")
        try await TestSupport.eventually {
            let reply = (try? await send(stack.smtpPort, to: "sales@host.domain.com", id: "<after@test>")) ?? ""
            accepted.withLock { $0 = reply }
            return reply.contains("<-  250 2.0.0 ")
        }
        try await TestSupport.eventually { stack.mailbox("user2").contains { $0.contains("<after@test>") } }
        #expect(try await stack.stop("relay-policy") == 0, "the same relay-policy process served before and after")
        _ = try await stack.stopAll()
    }
}
