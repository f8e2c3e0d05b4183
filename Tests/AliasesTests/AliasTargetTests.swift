import MailstackAliases
import Testing

/// The target list grammar alone (AliasTargetParser): tables, no files.
@Suite("aliases: target lists")
struct AliasTargetTests {
    static let valid: [(String, [AliasTarget])] = [
        ("you", [.local("you")]),
        ("Admin", [.local("Admin")]),
        ("you, \\root,\tadmin@example.com", [.local("you"), .verbatimLocal("root"), .address("admin@example.com")]),
        ("\"|/usr/bin/prog arg, with comma\"", [.program("/usr/bin/prog arg, with comma")]),
        ("\"|/bin/echo \\\"quoted\\\"\", you", [.program("/bin/echo \"quoted\""), .local("you")]),
        ("|/usr/bin/vacation you", [.program("/usr/bin/vacation you")]),
        ("/var/log/archive", [.file("/var/log/archive")]),
        ("\"/var/log/my file, 2\"", [.file("/var/log/my file, 2")]),
        (":include:/etc/mail/lists/staff", [.include("/etc/mail/lists/staff")]),
        (":INCLUDE: /x, you", [.include("/x"), .local("you")]),
        ("error:5.1.1:This address is gone", [.error(code: 550, enhanced: "5.1.1", text: "This address is gone")]),
        ("ERROR:4.2.2:Mailbox full", [.error(code: 450, enhanced: "4.2.2", text: "Mailbox full")]),
        ("error:5.7.1:554 Go away", [.error(code: 554, enhanced: "5.7.1", text: "Go away")]),
        ("error:550 Gone", [.error(code: 550, enhanced: "5.0.0", text: "Gone")]),
        ("error:nouser", [.error(code: 550, enhanced: "5.1.1", text: "User unknown")]),
        ("error:NoUser No such person here", [.error(code: 550, enhanced: "5.1.1", text: "No such person here")]),
        ("error:tempfail", [.error(code: 450, enhanced: "4.0.0", text: "Temporary failure")]),
        ("\"error:5.1.1:gone, sorry\"", [.error(code: 550, enhanced: "5.1.1", text: "gone, sorry")]),
        ("John Doe <jd@example.com>, jd2@example.com (John, Two)", [.address("jd@example.com"), .address("jd2@example.com")]),
        ("\"Doe, John\" <jd@example.com>", [.address("jd@example.com")]),
        ("\"a b\"@example.com", [.address("\"a b\"@example.com")]),
        ("user@[192.0.2.1]", [.address("user@[192.0.2.1]")]),
        ("\"\\\\root\", \"you\"", [.verbatimLocal("root"), .local("you")]),
        ("a,,b, ,", [.local("a"), .local("b")]),
        ("(a comment alone), you", [.local("you")]),
        ("list-request, owner-list", [.local("list-request"), .local("owner-list")]),
        ("ユーザー", [.local("ユーザー")]),
    ]

    @Test("what each target is", arguments: valid)
    func parses(text: String, expected: [AliasTarget]) throws {
        #expect(try AliasTargetParser.parseList(text) == expected)
    }

    @Test("targets written back read back the same", arguments: valid)
    func roundTrip(text: String, expected: [AliasTarget]) throws {
        let written = expected.map(\.description).joined(separator: ", ")
        #expect(try AliasTargetParser.parseList(written) == expected, "\(written)")
    }

    @Test("what is refused, and why", arguments: [
        ("you admin", "bad target \"you admin\": white space in a name (a missing comma?)"),
        ("\"|unterminated", "unbalanced '\"'"),
        ("a (unclosed", "unbalanced '('"),
        ("a)", "unbalanced ')'"),
        ("<a@b", "unbalanced '<'"),
        ("|cmd > /dev/null", "unbalanced '>' (quote a program that redirects: \"|cmd > file\")"),
        ("|  ", "program without a command"),
        (":include:lists/staff", ":include: needs an absolute path, not \":include:lists/staff\""),
        ("error:9.9.9:x", "bad \"error:9.9.9:x\": use error:D.S.N:text, error:NNN text or error:nouser text"),
        ("error:5.1.1:", "bad \"error:5.1.1:\": no text"),
        ("error:5.1.1:450 x", "bad \"error:5.1.1:450 x\": reply code 450 and enhanced code 5.1.1 of different classes"),
        ("error:2.0.0:fine", "bad \"error:2.0.0:fine\": use error:D.S.N:text, error:NNN text or error:nouser text"),
        ("a\u{1}b", "control character 0x01"),
        ("a\rb", "control character 0x0D"),
        ("user@", "bad address \"user@\""),
        ("@host", "bad address \"@host\""),
        ("@a,@b:user@c", "bad address \"@a\""),
        ("foo;bar", "bad target \"foo;bar\": ';' in a name"),
        ("\\", "bad target \"\\\\\": empty name"),
        ("\"\"", "empty target"),
        ("Name <>", "empty <> address"),
        ("<a@b> trailing", "bad address \"<a@b> trailing\""),
        ("\"x\" y", "bad target \"\\\"x\\\" y\": white space in a name (a missing comma?)"),
        (String(repeating: "n", count: 257), "bad target \"\(String(repeating: "n", count: 257))\": name longer than 256 octets"),
    ])
    func refusals(text: String, reason: String) {
        #expect(throws: AliasTargetError(reason)) { try AliasTargetParser.parseList(text) }
    }

    @Test("octets that are not UTF-8 are refused, not replaced")
    func notUTF8() {
        #expect(throws: AliasTargetError("not UTF-8")) { try AliasTargetParser.parseList([0x61, 0xFF, 0x62]) }
    }

    @Test("a combining mark after a quote or a comma hides neither")
    func combiningMarks() throws {
        #expect(try AliasTargetParser.parseList("a,\u{301}b") == [.local("a"), .local("\u{301}b")])
        #expect(try AliasTargetParser.parseList("\"|a, b\", \u{301}c") == [.program("a, b"), .local("\u{301}c")])
    }
}
