import Foundation
import MailstackAliases
import Testing

/// The aliases file (AliasesFile) and :include: files (AliasIncludeFile): byte fixtures in,
/// entries or errors naming file and line out.
@Suite("aliases: the aliases file")
struct AliasesFileTests {
    func parse(_ text: String) throws -> AliasesFile { try AliasesTestSupport.parse(text) }

    @Test("comments, blank lines, continuation lines, case folding; the value as sendmail stores it")
    func basics() throws {
        let file = try parse("# comment\n\nPostmaster: root\nroot: you, \\root,\n\tadmin@example.com\nList:  a,\n  b\n")
        #expect(file.entries.map(\.name) == ["postmaster", "root", "list"])
        #expect(file.entries.map(\.line) == [3, 4, 6])
        #expect(file.entry("ROOT")?.targets == [.local("you"), .verbatimLocal("root"), .address("admin@example.com")])
        #expect(file.entry("root")?.value == Array("you, \\root,\tadmin@example.com".utf8))
        #expect(file.entry("list")?.value == Array("a,  b".utf8), "the continuation's blanks are kept, the LF dropped")
        #expect(file.entry("list")?.targets == [.local("a"), .local("b")])
    }

    @Test("the fixture reads as sendmail reads it", arguments: [
        ("postmaster", "root"), ("mailer-daemon", "postmaster"), ("root", "you, \\root,\tadmin@example.com"),
        ("prog", "\"|/usr/bin/prog arg, with comma\""), ("list", "you, user2,  user4"), ("list-request", "you   "),
        ("staff", ":include:/etc/mail/lists/staff"), ("gone", "error:5.1.1:This address is gone"),
        ("root2", "You, Admin@Example.COM"), ("joined", "user2, user4"),
    ])
    func fixture(name: String, value: String) throws {
        let file = try AliasesFile.parse(try AliasesTestSupport.fixture("aliases"), file: "aliases")
        #expect(file.entries.count == 13)
        #expect(file.entry(name).map { String(decoding: $0.value, as: UTF8.self) } == value)
    }

    @Test("a line ending in a backslash joins the next; a line of blanks after an entry continues it")
    func joins() throws {
        let file = try parse("a: x, \\\ny\nb: z\n  \n\nc: w\n")
        #expect(file.entry("a")?.value == Array("x, y".utf8))
        #expect(file.entry("b")?.value == Array("z  ".utf8))
        #expect(file.entry("c")?.line == 6)
        #expect(try parse("   \n\t\nc: w\n").entries.count == 1, "blank lines before any entry are blank lines")
    }

    @Test("each bad line is named by file and line, with the reason", arguments: [
        ("nocolon you\n", 1, "missing colon"),
        (": you\n", 1, "empty alias name"),
        ("   : you\n", 1, "line starts with white space but continues no alias (after a comment or blank line?)"),
        ("foo bar: x\n", 1, "bad alias name \"foo bar\": white space in a name (a missing comma?)"),
        ("user@remote.test: y\n", 1, "bad alias name \"user@remote.test\": '@' in a name (cannot alias non-local names)"),
        ("\"quoted\": y\n", 1, "bad alias name \"\\\"quoted\\\"\": '\"' in a name"),
        ("a\u{1}b: x\n", 1, "control character 0x01"),
        ("x: you\r\n", 1, "control character 0x0D (CR): the file has CRLF line ends; convert it to LF"),
        ("x: you,\n  a\u{7F}\n", 2, "control character 0x7F"),
        ("empty:\n", 1, "alias empty: empty target list (missing value for alias)"),
        ("empty:   \t\n", 1, "alias empty: empty target list (missing value for alias)"),
        ("commas: , ,\n", 1, "alias commas: empty target list (missing value for alias)"),
        ("a: b\n# c\n  d\n", 3, "line starts with white space but continues no alias (after a comment or blank line?)"),
        ("a: b\n\n  d\n", 3, "line starts with white space but continues no alias (after a comment or blank line?)"),
        ("a: b\nA: c\n", 2, "alias a: duplicate alias name (first on line 1)"),
        ("x: you,\n  you admin\n", 1, "alias x: bad target \"you admin\": white space in a name (a missing comma?)"),
        ("x: \"|unterminated\n", 1, "alias x: unbalanced '\"'"),
    ])
    func refusals(text: String, line: Int, reason: String) {
        #expect(throws: AliasesError.syntax(file: "aliases", line: line, reason: reason)) { try parse(text) }
    }

    @Test("every bad line is reported at once; a bad first line's continuations are not reported again")
    func allErrors() throws {
        do {
            _ = try parse("ok: you\nbad line\n  its continuation\nempty:\nok: again\n")
            Issue.record("parsed a bad file")
        } catch let error as AliasesError {
            #expect(error == .invalidSource([
                .syntax(file: "aliases", line: 2, reason: "missing colon"),
                .syntax(file: "aliases", line: 4, reason: "alias empty: empty target list (missing value for alias)"),
                .syntax(file: "aliases", line: 5, reason: "alias ok: duplicate alias name (first on line 1)"),
            ]))
            #expect(error.description.hasPrefix("aliases: line 2: missing colon\naliases: line 4: "))
        }
    }

    @Test("octets that are not UTF-8: refused in an entry, ignored in a comment")
    func encodings() throws {
        #expect(throws: AliasesError.syntax(file: "aliases", line: 1, reason: "not UTF-8")) {
            try AliasesFile.parse(Array("a: b".utf8) + [0xE9] + [0x0A], file: "aliases")
        }
        let latin1Comment: [UInt8] = Array("# Jos".utf8) + [0xE9] + Array("\na: b\n".utf8)
        #expect(try AliasesFile.parse(latin1Comment, file: "aliases").entries.count == 1)
    }

    @Test("bounds: an entry longer than 64 KiB is refused, its continuations too")
    func bounds() {
        let long = "a: " + Array(repeating: "user", count: AliasesFile.maxEntryLength / 5).joined(separator: ", ") + "\n"
        #expect(throws: AliasesError.syntax(file: "aliases", line: 1, reason: "line too long (limit 65536 octets)")) { try parse(long) }
        let continued = "a: x,\n" + String(repeating: "  user, user, user,\n", count: AliasesFile.maxEntryLength / 10)
        #expect(throws: AliasesError.self) { try parse(continued) }
        do { _ = try parse(continued) } catch let error as AliasesError {
            #expect(error.errors.count == 1 && error.description.contains("alias too long (limit 65536 octets)"))
        } catch { Issue.record("\(error)") }
    }
}

@Suite("aliases: :include: files")
struct AliasIncludeFileTests {
    @Test("targets one or more a line, comments and blank lines skipped")
    func contents() throws {
        let text = "# staff\nyou\n\n  user2, \"|/usr/bin/archive staff\"  \n\t# indented comment\n/var/log/staff\n"
        #expect(try AliasIncludeFile.parse(Array(text.utf8), file: "staff") == [
            .local("you"), .local("user2"), .program("/usr/bin/archive staff"), .file("/var/log/staff"),
        ])
    }

    @Test("bad lines are named by file and line; there are no continuation lines")
    func refusals() {
        #expect(throws: AliasesError.invalidSource([
            .syntax(file: "staff", line: 2, reason: "bad target \"you admin\": white space in a name (a missing comma?)"),
            .syntax(file: "staff", line: 3, reason: "control character 0x0D (CR): the file has CRLF line ends; convert it to LF"),
        ])) {
            try AliasIncludeFile.parse(Array("ok\nyou admin\nuser2\r\n".utf8), file: "staff")
        }
    }

    @Test("files: bounded, regular files only")
    func reading() throws {
        let dir = try AliasesTestSupport.temporaryDirectory()
        try "you\n".write(toFile: dir + "/ok", atomically: true, encoding: .utf8)
        #expect(try AliasIncludeFile.read(path: dir + "/ok") == [.local("you")])
        try Data(repeating: 0x61, count: AliasIncludeFile.maxFileSize + 1).write(to: URL(fileURLWithPath: dir + "/big"))
        #expect(throws: AliasesError.tooLarge(path: dir + "/big", size: AliasIncludeFile.maxFileSize + 1, limit: AliasIncludeFile.maxFileSize)) {
            try AliasIncludeFile.read(path: dir + "/big")
        }
        #expect(mkfifo(dir + "/fifo", 0o600) == 0)
        #expect(throws: AliasesError.unreadable(path: dir + "/fifo", reason: "not a regular file")) { try AliasIncludeFile.read(path: dir + "/fifo") }
        #expect(throws: AliasesError.unreadable(path: dir, reason: "not a regular file")) { try AliasIncludeFile.read(path: dir) }
        #expect(throws: AliasesError.unreadable(path: dir + "/none", reason: "No such file or directory")) {
            try AliasIncludeFile.read(path: dir + "/none")
        }
    }
}
