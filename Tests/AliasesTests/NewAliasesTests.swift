import Foundation
import MailstackAliases
import MailstackMaps
import Testing

/// newaliases: the records of aliases.db, the atomic write, the reader, and the command.
@Suite("aliases: newaliases and aliases.db")
struct NewAliasesTests {
    static let source = """
        # the file sendmail's newaliases was first run on (see SendmailAliasesCompatibilityTests)
        Postmaster: root
        MAILER-DAEMON: postmaster
        root: you, \\root,
        \tadmin@example.com
        prog: "|/usr/bin/prog arg, with comma"
        \u{20}
        list: a, b,
          c
        owner-list: you
        file: /var/log/x
        err: error:5.1.1:No such user

        """

    static func records(_ db: String) throws -> [String] {
        try BerkeleyDB(path: db, kind: .hash, mode: .readOnly).entries()
            .map { String(decoding: $0.key, as: UTF8.self) + " -> " + String(decoding: $0.value, as: UTF8.self) }.sorted()
    }

    @Test("records: key and value each end in one NUL, keys lower case, @ -> @ last; sendmail's statistics")
    func records() throws {
        let file = try AliasesTestSupport.parse(Self.source)
        let records = NewAliases.records(file)
        #expect(records.first == MakeMap.Entry(key: Array("postmaster\0".utf8), value: Array("root\0".utf8), line: 2))
        #expect(records.last == MakeMap.Entry(key: [0x40, 0], value: [0x40, 0], line: 0))
        #expect(records.contains { $0.key == Array("prog\0".utf8) && $0.value == Array("\"|/usr/bin/prog arg, with comma\" \0".utf8) },
                "a line of blanks after an entry continues it, as in sendmail")
        // Debian's sendmail 8.17 said "8 aliases, longest 33 bytes, 173 bytes total" for this file.
        #expect(NewAliases.statistics(file) == .init(aliases: 8, longest: 33, total: 173))
        #expect(NewAliases.statistics(file).summary(for: "/etc/mail/aliases") == "/etc/mail/aliases: 8 aliases, longest 33 bytes, 173 bytes total")
    }

    @Test("built, read back through AliasesDatabase, case-insensitively")
    func buildAndRead() throws {
        let dir = try AliasesTestSupport.temporaryDirectory()
        try Self.source.write(toFile: dir + "/aliases", atomically: true, encoding: .utf8)
        let statistics = try NewAliases.build(source: dir + "/aliases")
        #expect(statistics.aliases == 8)
        let db = AliasesDatabase(path: dir + "/aliases")
        #expect(db.path == dir + "/aliases.db")
        #expect(try db.isComplete())
        #expect(try db.value(for: "ROOT") == Array("you, \\root,\tadmin@example.com".utf8))
        #expect(try db.targets(for: "Mailer-Daemon") == [.local("postmaster")])
        #expect(try db.targets(for: "list") == [.local("a"), .local("b"), .local("c")])
        #expect(try db.targets(for: "nobody") == nil)
        #expect(try Self.records(dir + "/aliases.db").contains("@\0 -> @\0"))
    }

    @Test("a bad source leaves the database in place untouched, and no temporary file")
    func badSourceKeepsOldDatabase() throws {
        let dir = try AliasesTestSupport.temporaryDirectory()
        try "root: you\n".write(toFile: dir + "/aliases", atomically: true, encoding: .utf8)
        try NewAliases.build(source: dir + "/aliases")
        let before = try FileManager.default.attributesOfItem(atPath: dir + "/aliases.db")[.systemFileNumber] as? Int
        try "root: admin\nbad line\n".write(toFile: dir + "/aliases", atomically: true, encoding: .utf8)
        #expect(throws: AliasesError.syntax(file: dir + "/aliases", line: 2, reason: "missing colon")) { try NewAliases.build(source: dir + "/aliases") }
        let after = try FileManager.default.attributesOfItem(atPath: dir + "/aliases.db")[.systemFileNumber] as? Int
        #expect(before == after)
        #expect(try AliasesDatabase(path: dir + "/aliases").targets(for: "root") == [.local("you")])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["aliases", "aliases.db"])
    }

    @Test("a running reader sees the old aliases or all the new ones (a rename), without reopening by hand")
    func reload() throws {
        let dir = try AliasesTestSupport.temporaryDirectory()
        let db = AliasesDatabase(path: dir + "/aliases", checkInterval: .zero)
        try "root: you\n".write(toFile: dir + "/aliases", atomically: true, encoding: .utf8)
        try NewAliases.build(source: dir + "/aliases")
        #expect(try db.targets(for: "root") == [.local("you")])
        for round in 0..<20 {
            try "root: admin\(round)\nabuse: root\n".write(toFile: dir + "/aliases", atomically: true, encoding: .utf8)
            try NewAliases.build(source: dir + "/aliases")
            #expect(try db.targets(for: "root") == [.local("admin\(round)")])
            #expect(try db.isComplete())
        }
    }

    @Test("a new database gets the source's read permissions; a replaced one keeps its mode")
    func permissions() throws {
        let dir = try AliasesTestSupport.temporaryDirectory()
        try "root: you\n".write(toFile: dir + "/aliases", atomically: true, encoding: .utf8)
        chmod(dir + "/aliases", 0o640)
        try NewAliases.build(source: dir + "/aliases")
        #expect(try FileManager.default.attributesOfItem(atPath: dir + "/aliases.db")[.posixPermissions] as? Int == 0o640)
        chmod(dir + "/aliases.db", 0o600)
        try NewAliases.build(source: dir + "/aliases")
        #expect(try FileManager.default.attributesOfItem(atPath: dir + "/aliases.db")[.posixPermissions] as? Int == 0o600)
    }

    @Test("a database without NULs (an explicit hash: class, or makemap without -N) reads the same")
    func withoutNUL() throws {
        let dir = try AliasesTestSupport.temporaryDirectory()
        let entries = try MakeMap.parse(Array("root you, admin\n@ @\n".utf8), file: "m", options: .init())
        try MakeMap.write(entries, to: dir + "/aliases", kind: .hash, options: .init())
        let db = AliasesDatabase(path: dir + "/aliases.db")
        #expect(try db.targets(for: "Root") == [.local("you"), .local("admin")])
        #expect(try db.isComplete())
    }

    @Test("a stored value that is not a target list is an error, not a guess; a missing database is MapError.missing")
    func badValue() throws {
        let dir = try AliasesTestSupport.temporaryDirectory()
        try MakeMap.write([MakeMap.Entry(key: Array("x\0".utf8), value: Array("a b\0".utf8), line: 1)], to: dir + "/aliases", kind: .hash, options: .init())
        #expect(throws: AliasesError.badValue(database: dir + "/aliases.db", name: "x", reason: "bad target \"a b\": white space in a name (a missing comma?)")) {
            try AliasesDatabase(path: dir + "/aliases").targets(for: "X")
        }
        #expect(throws: MapError.missing(path: dir + "/none.db")) { try AliasesDatabase(path: dir + "/none").value(for: "x") }
    }

    @Test("mailstack newaliases: the summary on stderr; a bad file exits 65 naming every bad line; a missing one 66")
    func command() throws {
        let dir = try AliasesTestSupport.temporaryDirectory()
        let newaliases = [AliasesTestSupport.binary("mailstack"), "newaliases", "-C", "/etc/mail/sendmail.cf"]
        try Self.source.write(toFile: dir + "/aliases", atomically: true, encoding: .utf8)
        let built = try AliasesTestSupport.run(newaliases + [dir + "/aliases"])
        #expect(built.status == 0)
        #expect(built.stdout == "")
        #expect(built.stderr == "\(dir)/aliases: 8 aliases, longest 33 bytes, 173 bytes total\n")
        try "a: b\nnocolon\nc:\n".write(toFile: dir + "/bad", atomically: true, encoding: .utf8)
        let bad = try AliasesTestSupport.run(newaliases + [dir + "/bad"])
        #expect(bad.status == 65)
        #expect(bad.stderr == "newaliases: \(dir)/bad: line 2: missing colon\nnewaliases: \(dir)/bad: line 3: alias c: empty target list (missing value for alias)\n")
        #expect(!FileManager.default.fileExists(atPath: dir + "/bad.db"))
        let missing = try AliasesTestSupport.run(newaliases + [dir + "/none"])
        #expect(missing.status == 66)
        #expect(missing.stderr == "newaliases: \(dir)/none: No such file or directory\n")
    }
}
