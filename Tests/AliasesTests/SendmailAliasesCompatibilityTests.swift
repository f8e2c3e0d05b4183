import Accounts
import Foundation
import MailstackAliases
import MailstackMaps
import Testing

/// Our newaliases and AliasesDatabase against Debian's sendmail 8.17 (sendmail-bin, unpacked by
/// scripts/install-deps.sh, never installed): sendmail's own newaliases (`sendmail -bi`) builds
/// aliases.db from the same files, and praliases, sendmail's reader, reads ours.
///
/// Running `sendmail -bi` in a test: it reads a minimal configuration (`-C`, below) naming the
/// aliases file; it refuses -bi to a user that is neither root nor in class t (`Ct`); and with
/// an unqualified host name (this machine's is `vm`) it sleeps 60 s before going on. As root the
/// test runs it in a UTS namespace of its own whose host name is `mailstack.test` (`unshare -u`).
/// As another user (or without unshare) it runs it directly, that user in class t, and takes
/// the 60 s on an unqualified host (a user namespace mapped to root would get the host name, but
/// sendmail then fails to drop its supplementary groups: setgroups is denied there).
@Suite("compatibility with sendmail's newaliases and praliases")
struct SendmailAliasesCompatibilityTests {
    static let sendmailPath = AliasesTestSupport.sendmailDirectory + "/sendmail"
    static let praliases = AliasesTestSupport.sendmailDirectory + "/praliases"
    static let present = FileManager.default.isExecutableFile(atPath: sendmailPath) && FileManager.default.isExecutableFile(atPath: praliases)
    static let missing = "sendmail-bin is not unpacked in .build/sendmail-bin: run scripts/install-deps.sh"
    /// The interop tests are skipped, saying why, when the binaries are missing (and `binaries`
    /// fails, as in SendmailCompatibilityTests).
    static let needsSendmail = ConditionTrait.enabled(if: present, "sendmail-bin is not unpacked in .build/sendmail-bin: run scripts/install-deps.sh")

    static let sources: [(String, String)] = [
        ("fixture", String(decoding: (try? AliasesTestSupport.fixture("aliases")) ?? [], as: UTF8.self)),
        ("first run", NewAliasesTests.source),
    ]

    @Test("sendmail and praliases are there (scripts/install-deps.sh extracts them)")
    func binaries() {
        #expect(Self.present, "\(Self.missing)")
        #expect(FileManager.default.isExecutableFile(atPath: AliasesTestSupport.binary("mailstack")))
    }

    /// sendmail's newaliases on `dir/aliases`; `mapClass` is the AliasFile's class prefix ("" is
    /// sendmail's default, as Debian's sendmail.cf has it: `O AliasFile=/etc/mail/aliases`).
    static func sendmailNewaliases(_ dir: String, mapClass: String = "") throws -> TestSupport.Result {
        try sendmail(dir, mapClass: mapClass, ["-bi"])
    }

    /// sendmail with `arguments` and a minimal configuration for `dir/aliases` (written to
    /// `dir/sendmail.cf`): the local mailer, aliasable, and a ruleset 0 that resolves every
    /// address to it.
    static func sendmail(_ dir: String, mapClass: String = "", _ arguments: [String]) throws -> TestSupport.Result {
        let root = geteuid() == 0
        let user = SystemUser.withID(geteuid())?.name ?? "root"
        let cf = """
            V10/Berkeley
            O AliasFile=\(mapClass)\(dir)/aliases
            O QueueDirectory=\(dir)
            O DontBlameSendmail=MapInUnsafeDirPath,GroupWritableAliasFile,WorldWritableAliasFile,TrustStickyBit
            \(root ? "" : "Ct \(user)")
            Mlocal, P=/bin/true, F=lsDFMAw5:/|@q, S=0, R=0, A=mail.local -l
            S0
            R$+\t$#local $: $1

            """
        try cf.write(toFile: dir + "/sendmail.cf", atomically: true, encoding: .utf8)
        let command = [sendmailPath, "-C", dir + "/sendmail.cf"] + arguments
        let unshare = "/usr/bin/unshare"
        let argv = root && FileManager.default.isExecutableFile(atPath: unshare)
            ? [unshare, "-u", "/bin/sh", "-c", "hostname mailstack.test && exec \"$@\"", "sh"] + command
            : command
        return try AliasesTestSupport.run(argv)
    }

    static func records(_ db: String) throws -> [[UInt8]] {
        try BerkeleyDB(path: db, kind: .hash, mode: .readOnly).entries().map { $0.key + [0x3D, 0x3E] + $0.value }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    @Test("sendmail's newaliases and ours write the same records, byte for byte, and say the same", needsSendmail, arguments: sources)
    func sameRecords(name: String, source: String) throws {
        let ours = try AliasesTestSupport.temporaryDirectory(), theirs = try AliasesTestSupport.temporaryDirectory()
        try source.write(toFile: ours + "/aliases", atomically: true, encoding: .utf8)
        try source.write(toFile: theirs + "/aliases", atomically: true, encoding: .utf8)
        let built = try AliasesTestSupport.run([AliasesTestSupport.binary("mailstack"), "newaliases", ours + "/aliases"])
        #expect(built.status == 0, "\(built.stderr)")
        let sendmail = try Self.sendmailNewaliases(theirs)
        #expect(sendmail.status == 0, "\(sendmail.stdout)\(sendmail.stderr)")

        let reference = try Self.records(theirs + "/aliases.db")
        #expect(reference.contains(Array("@\0=>@\0".utf8)), "sendmail's default alias class stores a NUL after key and value")
        #expect(reference.contains(Array("postmaster\0=>root\0".utf8)), "keys folded to lower case")
        #expect(try Self.records(ours + "/aliases.db") == reference)
        // "DIR/aliases: 8 aliases, longest 33 bytes, 173 bytes total" from both (sendmail on stdout, we on stderr).
        let summary = { (text: String, dir: String) in
            text.split(separator: "\n").filter { $0.contains(" aliases, longest ") }.map { $0.replacingOccurrences(of: dir, with: "DIR") }
        }
        #expect(summary(built.stderr, ours).count == 1)
        #expect(summary(built.stderr, ours) == summary(sendmail.stdout + "\n" + sendmail.stderr, theirs))
    }

    @Test("praliases, sendmail's reader, reads our aliases.db", needsSendmail, arguments: sources)
    func praliasesReadsOurs(name: String, source: String) throws {
        let dir = try AliasesTestSupport.temporaryDirectory()
        try source.write(toFile: dir + "/aliases", atomically: true, encoding: .utf8)
        try NewAliases.build(source: dir + "/aliases")
        let file = try AliasesTestSupport.parse(source)
        let listed = try AliasesTestSupport.run([Self.praliases, "-f", dir + "/aliases.db"])
        #expect(listed.status == 0, "\(listed.stderr)")
        let expected = (file.entries.map { $0.name + ":" + String(decoding: $0.value, as: UTF8.self) } + ["@:@"]).sorted()
        #expect(TestSupport.sortedLines(listed.stdout) == expected)
        let one = try AliasesTestSupport.run([Self.praliases, "-f", dir + "/aliases.db", "postmaster", "root"])
        #expect(one.stdout == "postmaster:root\nroot:you, \\root,\tadmin@example.com\n")
    }

    @Test("our reader reads sendmail's aliases.db, with the NULs of its default class and without them (hash:)",
          needsSendmail, arguments: ["", "hash:"])
    func weReadSendmails(mapClass: String) throws {
        let dir = try AliasesTestSupport.temporaryDirectory()
        let source = try AliasesTestSupport.fixture("aliases")
        try Data(source).write(to: URL(fileURLWithPath: dir + "/aliases"))
        let result = try Self.sendmailNewaliases(dir, mapClass: mapClass)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let nul = try Self.records(dir + "/aliases.db").contains(Array("@\0=>@\0".utf8))
        #expect(nul == mapClass.isEmpty)
        let db = AliasesDatabase(path: dir + "/aliases")
        #expect(try db.isComplete())
        for entry in try AliasesFile.parse(source, file: "aliases").entries {
            #expect(try db.value(for: entry.name.uppercased()) == entry.value, "\(entry.name)")
            #expect(try db.targets(for: entry.name) == entry.targets, "\(entry.name)")
        }
        #expect(try db.targets(for: "nobody") == nil)
    }
}
