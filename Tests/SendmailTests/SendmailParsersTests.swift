import SendmailCommand
import SMTP
import Testing

/// The pure parts of the sendmail command: address lists, -t's header recipients and Bcc:
/// removal, the lone-dot end of input, and the -bs session, as tables and scripted lines.
@Suite("Sendmail parsers")
struct SendmailParsersTests {
    @Test("address lists: display names, comments, groups, routes, quotes, literals", arguments: [
        ("you@domain1.com", ["you@domain1.com"]),
        ("a@b, c@d", ["a@b", "c@d"]),
        ("User Two <user2@domain1.com>", ["user2@domain1.com"]),
        ("\"Doe, John\" <john@a.test>, (comment) jane@b.test (Jane)", ["john@a.test", "jane@b.test"]),
        ("undisclosed-recipients:;", []),
        ("Team: a@x.test, b@x.test;, c@x.test", ["a@x.test", "b@x.test", "c@x.test"]),
        ("<@r1,@r2:b@x.test>", ["b@x.test"]),
        ("<@r1,@r2>", []),
        ("c@[IPv6:::1]", ["c@[IPv6:::1]"]),
        ("\"quoted \\\"local\\\"\"@x.test", ["\"quoted \\\"local\\\"\"@x.test"]),
        ("<a@b> trailing words, d@e", ["a@b", "d@e"]),
        ("a@b (comment (nested, with comma)), c@d", ["a@b", "c@d"]),
        (" ,, , ", []),
        ("root", ["root"]),
        ("a\r\n\t@b", ["a@b"]),
        // Found by fuzzing: a ) that closes no comment was kept in the address.
        ("(comment) jane@b.test)", ["jane@b.test"]),
    ])
    func addressLists(text: String, addresses: [String]) {
        #expect(AddressList.addresses(text) == addresses)
    }

    @Test("addresses a local user may give (the queue checks each again)", arguments: [
        ("you@domain1.com", true), ("root", true), ("\"john doe\"@x.test", true), ("a@[IPv6:::1]", true), ("", false),
        ("a b@c", false), ("<a@b>", false), ("a(b)@c", false), ("a,b@c", false), ("a;b", false), ("a\r\n@b", false),
        ("\"unclosed@x", false), (String(repeating: "x", count: 321), false), ("\"a\\\"b\"@c", true),
    ])
    func localAddresses(address: String, valid: Bool) {
        #expect(LocalAddress.isValid(address) == valid)
    }

    @Test("-t: To, Cc and Bcc in order, each once; Bcc removed with its continuation lines, nothing else touched")
    func headerRecipients() throws {
        let message = "To: you@domain1.com, User Two <user2@domain1.com>\nSubject: t\nBcc: secret@domain1.com,\n  YOU@domain1.com\nCc: cc@x.test\n\nBcc: body@x.test\n"
        let extracted = try HeaderRecipients.extract(Array(message.utf8))
        #expect(extracted.recipients == ["you@domain1.com", "user2@domain1.com", "secret@domain1.com", "cc@x.test"])
        #expect(String(decoding: extracted.message, as: UTF8.self)
            == "To: you@domain1.com, User Two <user2@domain1.com>\nSubject: t\nCc: cc@x.test\n\nBcc: body@x.test\n")
    }

    @Test("-t: Resent-* fields win when present; CRLF as LF; a header-less message names nobody")
    func resentAndEdges() throws {
        let resent = try HeaderRecipients.extract(Array("To: old@x.test\r\nResent-To: new@x.test\r\nResent-Bcc: hidden@x.test\r\n\r\nx\r\n".utf8))
        #expect(resent.recipients == ["new@x.test", "hidden@x.test"])
        #expect(String(decoding: resent.message, as: UTF8.self) == "To: old@x.test\r\nResent-To: new@x.test\r\n\r\nx\r\n")
        let none = try HeaderRecipients.extract(Array("body only\nTo: not@header.test\n".utf8))
        #expect(none.recipients.isEmpty)
        let spaced = try HeaderRecipients.extract(Array("Subject : x\nTO:a@b\nbcc:\n\n".utf8))
        #expect(spaced.recipients == ["a@b"] && String(decoding: spaced.message, as: UTF8.self) == "Subject : x\nTO:a@b\n\n")
        #expect(throws: HeaderRecipients.Failure.headerTooLarge(limit: HeaderRecipients.maxHeader)) {
            try HeaderRecipients.extract(Array(String(repeating: "X-Long: \(String(repeating: "x", count: 100))\n", count: 700).utf8))
        }
    }

    @Test("a lone dot ends the message unless -i; nothing after it is taken; any pieces end alike", arguments: [
        ("a\n.\nb\n", false, "a\n"), ("a\r\n.\r\nb", false, "a\r\n"), (".\n", false, ""), ("a\n.", false, "a\n"),
        ("a\n..\n.x\n", false, "a\n..\n.x\n"), ("a\n.\r\r\n.\n", false, "a\n.\r\r\n"), ("a.\n", false, "a.\n"),
        ("a\n.\nb\n", true, "a\n.\nb\n"), ("", false, ""),
    ])
    func dots(input: String, ignoreDots: Bool, message: String) {
        let bytes = Array(input.utf8)
        for size in 1...max(1, bytes.count) {
            var terminator = DotTerminator(ignoreDots: ignoreDots)
            var out: [UInt8] = []
            for start in stride(from: 0, to: bytes.count, by: size) { out += terminator.feed(bytes[start..<min(start + size, bytes.count)]) }
            terminator.finish()
            #expect(String(decoding: out, as: UTF8.self) == message, "pieces of \(size)")
        }
    }

    /// A -bs conversation: each client line with the reply it gets.
    @Test("-bs: a session from EHLO to QUIT, the message with its dot-stuffing undone")
    func smtpSession() {
        var session = LocalSMTPSession(hostname: "host.domain.com", user: "nobody", maxMessageSize: 1000, maxRecipients: 2)
        func say(_ line: String) -> LocalSMTPSession.Step { session.line(LineReader.Line(bytes: Array(line.utf8))) }
        #expect(say("MAIL FROM:<a(b)@c>") == .reply("501 5.1.7 Bad sender address syntax\r\n"))
        #expect(say("MAIL FROM:<a@b>") == .reply("250 2.1.0 <a@b>... Sender ok\r\n"))
        #expect(say("RSET") == .reply("250 2.0.0 Reset state\r\n"))
        #expect(say("EHLO client") == .reply("250-host.domain.com Hello nobody@localhost, pleased to meet you\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 1000\r\n250-DSN\r\n250 HELP\r\n"))
        #expect(say("DATA") == .reply("503 5.0.0 Need MAIL command\r\n"))
        #expect(say("RCPT TO:<x@y>") == .reply("503 5.0.0 Need MAIL before RCPT\r\n"))
        #expect(say("MAIL FROM:<> SIZE=2000") == .reply("552 5.2.3 Message size exceeds fixed maximum message size (1000)\r\n"))
        #expect(say("MAIL FROM:<root@domain1.com> RET=HDRS ENVID=e1") == .reply("250 2.1.0 <root@domain1.com>... Sender ok\r\n"))
        #expect(say("MAIL FROM:<a@b>") == .reply("503 5.5.0 Sender already specified\r\n"))
        #expect(say("DATA") == .reply("503 5.0.0 Need RCPT (recipient)\r\n"))
        #expect(say("RCPT TO:<you@domain1.com> NOTIFY=SUCCESS") == .reply("250 2.1.5 <you@domain1.com>... Recipient ok\r\n"))
        #expect(say("RCPT TO:<>") == .reply("501 5.5.2 Syntax error in parameters scanning \"to\"\r\n"))
        #expect(say("RCPT TO:<b@c> FOO=1") == .reply("555 5.5.4 FOO parameter unrecognized\r\n"))
        #expect(say("RCPT TO:<bad address@x>") == .reply("501 5.1.3 Bad recipient address syntax\r\n"))
        #expect(say("RCPT TO:<user2@domain1.com>") == .reply("250 2.1.5 <user2@domain1.com>... Recipient ok\r\n"))
        #expect(say("RCPT TO:<three@domain1.com>") == .reply("452 4.5.3 Too many recipients\r\n"))
        #expect(say("VRFY you") == .reply("252 2.5.2 Cannot VRFY user; try RCPT to attempt delivery (or try finger)\r\n"))
        #expect(say("EXPN list") == .reply("502 5.7.0 Sorry, we do not allow this operation\r\n"))
        #expect(say("STARTTLS") == .reply("500 5.5.1 Command unrecognized: \"STARTTLS\"\r\n"))
        #expect(say("DATA") == .reply("354 Enter mail, end with \".\" on a line by itself\r\n"))
        #expect(say("Subject: bs") == LocalSMTPSession.Step.none)
        #expect(say("") == LocalSMTPSession.Step.none)
        #expect(say("..leading dot") == LocalSMTPSession.Step.none)
        guard case let .submit(message) = say(".") else { Issue.record("no submission at the final dot"); return }
        #expect(message.sender == "root@domain1.com" && message.helo == "client")
        #expect(message.recipients == [EnvelopeRecipient(address: "you@domain1.com", notify: .success), EnvelopeRecipient(address: "user2@domain1.com")])
        #expect(message.parameters.ret == .headers && message.parameters.envid == "e1")
        #expect(String(decoding: message.data, as: UTF8.self) == "Subject: bs\r\n\r\n.leading dot\r\n")
        #expect(session.submitted(id: "0ABCDEFGHIJKLM") == "250 2.0.0 0ABCDEFGHIJKLM Message accepted for delivery\r\n")
        #expect(say("RCPT TO:<x@y>") == .reply("503 5.0.0 Need MAIL before RCPT\r\n"))
        #expect(session.line(LineReader.Line(bytes: Array(repeating: 0x41, count: 600))) == .reply("500 5.5.0 Command line too long\r\n"))
        #expect(say("QUIT") == .close("221 2.0.0 host.domain.com closing connection\r\n"))
    }

    @Test("-bs: a message over the size limit or with a line too long is refused at the dot, and the session goes on")
    func smtpRefusals() {
        var session = LocalSMTPSession(hostname: "h", user: "u", maxMessageSize: 20, maxRecipients: 10)
        func say(_ line: String, tooLong: Bool = false) -> LocalSMTPSession.Step { session.line(LineReader.Line(bytes: Array(line.utf8), tooLong: tooLong)) }
        _ = say("HELO c")
        _ = say("MAIL FROM:<>")
        _ = say("RCPT TO:<a@b>")
        _ = say("DATA")
        #expect(say("0123456789") == LocalSMTPSession.Step.none)
        #expect(say("0123456789") == LocalSMTPSession.Step.none)
        #expect(say(".") == .reply("552 5.3.4 Message size exceeds fixed maximum message size (20)\r\n"))
        _ = say("MAIL FROM:<>")
        _ = say("RCPT TO:<a@b>")
        _ = say("DATA")
        #expect(say("xxx", tooLong: true) == LocalSMTPSession.Step.none)
        #expect(say(".") == .reply("554 5.6.0 Message line too long\r\n"))
        #expect(say("NOOP") == .reply("250 2.0.0 OK\r\n"))
        #expect(session.endOfInput() == "421 4.4.1 h Lost input channel\r\n")
    }
}
