import Foundation
import Testing
import TestSupport

/// The README's move from sendmail + qpopper + drac, run on a fake seed host: the seed's
/// configuration and maps (etc/mail), an /etc/shadow, a dracd.db, and mail spools written by
/// Debian's procmail (mboxo, with a qpopper session replayed on it) and GNU mailutils' movemail
/// (mboxrd) by Tests/Interop/mbox_migration.py. Tests/System/migration-test.sh runs the
/// procedure; then the stack serves the result and poplib sees qpopper's UIDLs and the mbox's
/// bytes; running the import again, or after a POP3 client deleted a message, adds nothing.
@Suite("moving a seed host")
struct MigrationTests {
    static let script = TestSupport.packageRoot + "/Tests/Interop/mbox_migration.py"

    func spoolDigest(_ spool: String) throws -> [String: Data] {
        var result: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: spool) {
            result[name] = FileManager.default.contents(atPath: spool + "/" + name)
        }
        return result
    }

    @Test("the procedure on a seed host tree: qpopper's UIDLs and the mbox bytes over POP3, nothing imported twice")
    func procedure() async throws {
        for tool in ["/usr/bin/procmail", "/usr/bin/movemail.mailutils"] {
            try #require(FileManager.default.isExecutableFile(atPath: tool), "\(tool) missing: run scripts/install-deps.sh")
        }
        let base = try TestSupport.temporaryDirectory("migration")
        let (old, new) = (base + "/old", base + "/new")
        let fm = FileManager.default
        try fm.createDirectory(atPath: old + "/etc/mail", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: old + "/var/mail", withIntermediateDirectories: true)
        let seed = TestSupport.packageRoot + "/etc/mail/"
        for name in ["sendmail.mc", "access", "virtusertable", "mailertable", "virtuser-domains", "aliases"] {
            try fm.copyItem(atPath: seed + name, toPath: "\(old)/etc/mail/\(name)")
        }
        // /etc/shadow: SHA-512 crypt hashes, as Debian's passwd writes them.
        var shadow = "root:*:20000:0:99999:7:::\ndaemon:*:20000:0:99999:7:::\n"
        for (user, password) in [("you", "secret1"), ("user2", "secret2")] {
            let hash = try await TestSupport.runAsync(["/usr/bin/openssl", "passwd", "-6", password]).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
            shadow += "\(user):\(hash):20000:0:99999:7:::\n"
        }
        try shadow.write(toFile: old + "/etc/shadow", atomically: true, encoding: .utf8)
        // dracd.db: a client that logged in through qpopper a minute ago (dracd's btree, expiry in epoch seconds).
        let expiry = Int(Date().timeIntervalSince1970) + 29 * 60
        let drac = try await TestSupport.runAsync([TestSupport.binary("mailstack"), "makemap", "btree", old + "/etc/mail/dracd"],
                                                  input: Array("192.0.2.9 \(expiry)\n".utf8))
        #expect(drac.status == 0, "\(drac.stderr)")
        try "# spool name -> user\nyou you\nuser2 -   # mailutils wrote it: imported on its own\n"
            .write(toFile: old + "/users.map", atomically: true, encoding: .utf8)
        let made = try await TestSupport.runAsync(["/usr/bin/python3", Self.script, "make", old + "/var/mail", base + "/expected.json"])
        try #require(made.status == 0, "\(made.stderr)")
        let before = try spoolDigest(old + "/var/mail")

        let procedure = try await TestSupport.runAsync([TestSupport.packageRoot + "/Tests/System/migration-test.sh", old, new,
                                                        URL(fileURLWithPath: TestSupport.binary("mailstack")).deletingLastPathComponent().path])
        try #require(procedure.status == 0, "\(procedure.stdout)\n\(procedure.stderr)")
        #expect(procedure.stdout.contains("you: \(old)/var/mail/you -> \(new)/var/mail/mailstack/you: 7 messages, 7 imported"), "\(procedure.stdout)")
        #expect(procedure.stdout.contains("4 from X-UIDL, 2 computed as qpopper did, 1 duplicate"), "\(procedure.stdout)")
        #expect(procedure.stdout.contains("user2: \(old)/var/mail/user2 -> \(new)/var/mail/mailstack/user2: 2 messages, 2 imported"), "\(procedure.stdout)")
        #expect(try spoolDigest(old + "/var/mail") == before, "the spools were modified")

        let stack = try await StackHarness(extra: ["queue.maildir_root=\(new)/var/mail/mailstack", "pop3.passwd_file=\(new)/etc/mailstack/passwd",
                                                   "drac.database=\(new)/var/lib/mailstack/drac.db"])
        for (user, password) in [("you", "secret1"), ("user2", "secret2")] {
            let check = try await TestSupport.runAsync(["/usr/bin/python3", Self.script, "check", String(stack.pop3Port), user, password,
                                                        base + "/expected.json"])
            #expect(check.status == 0, "\(user): \(check.stdout) \(check.stderr)")
        }
        let list = try await TestSupport.runAsync([TestSupport.binary("mailstack"), "drac", "list", "--set", "ipc.directory=\(stack.dir)"])
        #expect(list.stdout.contains("192.0.2.9"), "dracd.db's entry: \(list.stdout) \(list.stderr)")

        // The DNS switch is done; mail that reached the old host meanwhile is imported by
        // running the import again: only what is new. A message deleted over POP3 stays deleted.
        let maildir = "\(new)/var/mail/mailstack/you"
        let deleted = try await TestSupport.runAsync(["/usr/bin/python3", "-c", """
            import poplib, sys
            c = poplib.POP3("127.0.0.1", \(stack.pop3Port), timeout=10); c.user("you"); c.pass_("secret1"); c.dele(1); c.quit()
            """])
        #expect(deleted.status == 0, "\(deleted.stderr)")
        let again = try await TestSupport.runAsync([TestSupport.binary("mailstack"), "import-mbox", "--maildir-root", new + "/var/mail/mailstack",
                                                    "you", old + "/var/mail/you"])
        #expect(again.stdout.contains("7 messages, 0 imported (0 octets), 7 already imported"), "\(again.stdout) \(again.stderr)")
        let count = try fm.contentsOfDirectory(atPath: maildir + "/cur").count + fm.contentsOfDirectory(atPath: maildir + "/new").count
        #expect(count == 6)
        _ = try await stack.stopAll()
    }

    @Test("an import killed (SIGKILL) while it writes leaves whole messages only; run again, every message is there exactly once")
    func killedImport() async throws {
        let base = try TestSupport.temporaryDirectory("killed-import")
        let count = 3000
        var mbox = ""
        for n in 1...count {
            mbox += "From sender\(n)@example.net Wed Dec  2 05:53:22 2026\nSubject: message \(n)\nMessage-Id: <\(n)@example.net>\n\n"
                + String(repeating: "line \(n) of a body long enough to take a while\n", count: 20) + "\n"
        }
        try mbox.write(toFile: base + "/you", atomically: true, encoding: .utf8)
        let root = base + "/maildirs"
        let argv = [TestSupport.binary("mailstack"), "import-mbox", "--maildir-root", root, "you", base + "/you"]
        let pid = try TestSupport.spawn(argv, stdout: base + "/out", stderr: base + "/err")
        // Killed once some messages are in place (if it finished first, the second run still checks).
        try await TestSupport.eventually {
            ((try? FileManager.default.contentsOfDirectory(atPath: root + "/you/new"))?.count ?? 0) >= 50
                || FileManager.default.fileExists(atPath: root + "/you/mailstack-imported")
        }
        kill(pid, SIGKILL)
        _ = TestSupport.waitExit(pid)
        let again = try await TestSupport.runAsync(argv)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("\(count) messages"), "\(again.stdout)")
        let names = try FileManager.default.contentsOfDirectory(atPath: root + "/you/new")
        #expect(names.count == count)
        // The message being written when it died was written again under the same name.
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/you/tmp").isEmpty)
        // Every message whole and once: its subject's number, each once.
        var seen = Set<Int>()
        for name in names {
            let text = try String(contentsOfFile: root + "/you/new/" + name, encoding: .utf8)
            let number = Int(text.split(separator: "\n")[0].dropFirst("Subject: message ".count))!
            #expect(text.hasSuffix("line \(number) of a body long enough to take a while\n"))
            #expect(seen.insert(number).inserted)
        }
        #expect(seen.count == count)
        // A third run adds nothing.
        let third = try await TestSupport.runAsync(argv)
        #expect(third.stdout.contains("0 imported (0 octets), \(count) already imported"), "\(third.stdout)")
    }
}
