import LocalDeliveryService
import SMTP
import Testing

/// Command lines as aliases write them: split into words with quotes as a shell would, and
/// refused where only a shell would give them meaning (smrsh's rule).
@Suite("program command lines")
struct ProgramCommandTests {
    @Test("words, quotes and backslashes", arguments: [
        ("/usr/bin/mlmmj-receive -L /var/spool/mlmmj/info", ["/usr/bin/mlmmj-receive", "-L", "/var/spool/mlmmj/info"]),
        ("  prog   a  b  ", ["prog", "a", "b"]),
        ("prog 'two words' \"and more\"", ["prog", "two words", "and more"]),
        ("prog 'it''s' \"a\\\"b\" \"c\\\\d\" \"e\\f\"", ["prog", "its", "a\"b", "c\\d", "e\\f"]),
        ("prog a\\ b '' x", ["prog", "a b", "", "x"]),
        ("prog 'a \"b\"' \"c 'd'\"", ["prog", "a \"b\"", "c 'd'"]),
    ])
    func words(line: String, expected: [String]) throws {
        #expect(try ProgramCommand.parse(line).words == expected)
    }

    @Test("shell metacharacters are refused anywhere, quoted or not", arguments: [
        ("prog; rm -rf /", ";"), ("prog && evil", "&"), ("prog | tee x", "|"), ("prog < /etc/shadow", "<"),
        ("prog > /etc/passwd", ">"), ("prog `id`", "`"), ("prog $HOME", "$"), ("prog $(id)", "$"), ("(prog)", "("),
        ("prog ')'", ")"), ("prog \"a;b\"", ";"),
    ] as [(String, Character)])
    func metacharacters(line: String, character: Character) {
        #expect(throws: ProgramCommand.Refusal.metacharacter(character)) { try ProgramCommand.parse(line) }
    }

    /// A combining mark joins the character before it into one Swift `Character`: a parser that
    /// compared Characters missed a `;` or a quote followed by one (fuzz: program-command).
    @Test("a metacharacter or quote followed by a combining mark is still itself")
    func combiningMarks() throws {
        #expect(throws: ProgramCommand.Refusal.metacharacter(";")) { try ProgramCommand.parse("prog ;\u{0301}rm") }
        #expect(throws: ProgramCommand.Refusal.metacharacter("$")) { try ProgramCommand.parse("prog $\u{0655}HOME") }
        #expect(try ProgramCommand.parse("prog '\u{0655}'").words == ["prog", "\u{0655}"])
        #expect(try ProgramCommand.parse("prog \u{0655}").words == ["prog", "\u{0655}"])
        #expect(try ProgramCommand.parse("prog a \u{0301}b").words == ["prog", "a", "\u{0301}b"])
        #expect(try ProgramCommand.parse("prog \"x\u{0301}\" '\u{0301}'\u{0301}").words == ["prog", "x\u{0301}", "\u{0301}\u{0301}"])
    }

    @Test("control characters, newline and tab included, are refused", arguments: ["prog\nevil", "prog\ta", "prog\u{0}x", "prog\r", "prog \u{7F}"])
    func controls(line: String) {
        do {
            let command = try ProgramCommand.parse(line)
            Issue.record("accepted: \(command.words)")
        } catch {
            guard case .controlCharacter = error else { Issue.record("refused as \(error)"); return }
        }
    }

    @Test("unbalanced quotes and empty commands", arguments: [
        ("prog 'open", ProgramCommand.Refusal.unbalancedQuote), ("prog \"open", .unbalancedQuote), ("prog \\", .unbalancedQuote),
        ("", .empty), ("   ", .empty), ("'' x", .empty),
    ])
    func malformed(line: String, refusal: ProgramCommand.Refusal) {
        #expect(throws: refusal) { try ProgramCommand.parse(line) }
    }

    @Test("smrsh looks up the first word's basename, whatever directory the alias named")
    func programName() throws {
        #expect(try ProgramCommand.parse("/tmp/evil/mlmmj-receive -L x").programName == "mlmmj-receive")
        #expect(try ProgramCommand.parse("mlmmj-receive").programName == "mlmmj-receive")
        #expect(try ProgramCommand.parse("/usr/bin/").programName == "")
        #expect(try ProgramCommand.parse("/").programName == "")
    }

    @Test("the refusals' texts name the rule")
    func texts() {
        #expect("\(ProgramCommand.Refusal.metacharacter(";"))" == "cannot use \";\" in a command (programs run without a shell)")
        #expect("\(ProgramCommand.Refusal.controlCharacter(10))" == "cannot use control character \\x0A in a command")
    }
}

/// sendmail's table of exit statuses (libsm/strexit.c), as the prog mailer answered them.
@Suite("program exit statuses")
struct ProgramExitTests {
    @Test("sysexits.h statuses, signals and the time limit", arguments: [
        (ProgramOutcome.exited(0), 250, "2.0.0", "Sent"),
        (.exited(64), 500, "5.0.0", "Command line usage error"),
        (.exited(65), 501, "5.6.0", "Data format error"),
        (.exited(66), 550, "5.3.0", "Cannot open input"),
        (.exited(67), 550, "5.1.1", "User unknown"),
        (.exited(68), 550, "5.1.2", "Host unknown"),
        (.exited(69), 554, "5.0.0", "Service unavailable"),
        (.exited(70), 554, "5.3.0", "Internal error"),
        (.exited(71), 451, "4.0.0", "Operating system error"),
        (.exited(72), 554, "5.3.5", "System file missing"),
        (.exited(73), 550, "5.0.0", "Can't create output"),
        (.exited(74), 451, "4.0.0", "I/O error"),
        (.exited(75), 450, "4.0.0", "Deferred"),
        (.exited(76), 554, "5.5.0", "Remote protocol error"),
        (.exited(77), 550, "5.0.0", "Insufficient permission"),
        (.exited(78), 554, "5.3.5", "Local configuration error"),
        (.exited(1), 554, "5.3.0", "unknown mailer error 1"),
        (.exited(127), 554, "5.3.0", "unknown mailer error 127"),
        (.signaled(9), 451, "4.3.0", "mailer prog died with signal 9"),
        (.timedOut(.seconds(600)), 451, "4.4.7", "program timed out after 10m (local.program_timeout); its processes were killed"),
    ] as [(ProgramOutcome, Int, String, String)])
    func table(outcome: ProgramOutcome, code: Int, enhanced: String, text: String) {
        let reply = ProgramExit.reply(outcome, output: "")
        #expect(reply.code == code && reply.enhanced == enhanced && reply.text == text, "\(reply)")
        #expect(SMTPReply.isEnhancedCode(Substring(reply.enhanced), for: reply.code))
    }

    @Test("only EX_TEMPFAIL, EX_OSERR, EX_IOERR, signals and the time limit are tried again")
    func temporary() {
        let temporary = (0...255).filter { ProgramExit.reply(.exited(Int32($0)), output: "").isTemporary }
        #expect(temporary == [71, 74, 75])
        #expect(ProgramExit.reply(.signaled(15), output: "").isTemporary)
        #expect(ProgramExit.reply(.timedOut(.seconds(1)), output: "").isTemporary)
    }

    @Test("a failure quotes what the program said, one escaped line; a success does not")
    func output() {
        let said = ProgramExit.quote(Array("  no such list: info \n\n\u{1B}[31mred\r\nbye".utf8))
        #expect(said == "no such list: info / \\x1B[31mred / bye")
        #expect(ProgramExit.reply(.exited(1), output: said).text == "unknown mailer error 1 (program said: \(said))")
        #expect(ProgramExit.reply(.exited(0), output: said).text == "Sent")
        let long = ProgramExit.quote(Array(repeating: 0x61, count: 5000))
        #expect(long.count == LocalDeliverySettings.quotedOutputLimit + 3 && long.hasSuffix("..."))
    }
}
