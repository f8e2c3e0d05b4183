import SMTP
import Testing

/// The MAIL and RCPT parameter grammar alone (Shared/SMTP): tables, no sockets.
@Suite("Shared/SMTP: MAIL and RCPT parameters")
struct SMTPParameterTests {
    func mail(_ argument: String, esmtp: Bool = true) throws(SMTPParameterError) -> MailParameters {
        try MailParameters.parse(try! SMTPPath.parse(Substring(argument), prefix: "FROM").parameters, esmtp: esmtp)
    }

    func rcpt(_ argument: String, esmtp: Bool = true) throws(SMTPParameterError) -> RcptParameters {
        try RcptParameters.parse(try! SMTPPath.parse(Substring(argument), prefix: "TO").parameters, esmtp: esmtp)
    }

    @Test("MAIL: every parameter smtp-in offers")
    func mailParameters() throws {
        let p = try mail("FROM:<a@b> SIZE=120 BODY=8bitmime SMTPUTF8 RET=hdrs ENVID=QQ+2B1 AUTH=<>")
        #expect(p.size == 120 && p.body == .eightBitMIME && p.smtputf8 && p.ret == .headers && p.envid == "QQ+1")
        #expect(try mail("FROM:<a@b>") == MailParameters())
    }

    @Test("MAIL: what is refused, with which reply", arguments: [
        ("FROM:<a@b> SIZE=x", "501 5.5.4 Syntax error in SIZE parameter"),
        ("FROM:<a@b> SIZE=123456789012345678901", "501 5.5.4 Syntax error in SIZE parameter"),
        ("FROM:<a@b> BODY=BINARYMIME", "501 5.5.4 Unknown BODY type BINARYMIME"),
        ("FROM:<a@b> RET=ALL", "501 5.5.4 Bad argument \"ALL\" to RET"),
        ("FROM:<a@b> ENVID=a+0D+0Abcc", "501 5.5.4 Syntax error in ENVID parameter value"),
        ("FROM:<a@b> ENVID=" + String(repeating: "x", count: 101), "501 5.5.4 Syntax error in ENVID parameter value"),
        ("FROM:<a@b> ENVID=a+2", "501 5.5.4 Syntax error in ENVID parameter value"),
        ("FROM:<a@b> SMTPUTF8=yes", "555 5.5.4 SMTPUTF8 parameter unrecognized"),
        ("FROM:<a@b> XFOO=1", "555 5.5.4 XFOO parameter unrecognized"),
    ])
    func mailRefusals(argument: String, reply: String) {
        #expect(throws: SMTPParameterError.self) { try mail(argument) }
        do { _ = try mail(argument) } catch { #expect(error.reply.description == reply) }
    }

    @Test("after HELO (not EHLO) no parameter is offered")
    func helo() {
        do { _ = try mail("FROM:<a@b> SIZE=1", esmtp: false); Issue.record("accepted") } catch {
            #expect(error.reply.description == "555 5.5.4 SIZE parameter unrecognized")
        }
    }

    @Test("NOTIFY: NEVER alone or a list of the other three", arguments: [
        ("NEVER", DSNNotify.never), ("success,FAILURE", [.success, .failure]), ("DELAY", .delay),
        ("SUCCESS,FAILURE,DELAY", [.success, .failure, .delay]),
    ] as [(String, DSNNotify)])
    func notify(value: String, expected: DSNNotify) throws {
        #expect(try rcpt("TO:<a@b> NOTIFY=\(value)").notify == expected)
    }

    @Test("RCPT: what is refused", arguments: [
        "TO:<a@b> NOTIFY=NEVER,SUCCESS", "TO:<a@b> NOTIFY=", "TO:<a@b> NOTIFY=SOMETIMES",
        "TO:<a@b> ORCPT=x", "TO:<a@b> ORCPT=;a@b", "TO:<a@b> ORCPT=rfc 822;a", "TO:<a@b> ORCPT=rfc822;a+0Db",
        "TO:<a@b> ORCPT=rfc822;" + String(repeating: "x", count: 501), "TO:<a@b> SIZE=1",
    ])
    func rcptRefusals(argument: String) {
        #expect(throws: SMTPParameterError.self) { try rcpt(argument) }
    }

    @Test("ORCPT keeps its type and decodes its address")
    func orcpt() throws {
        #expect(try rcpt("TO:<a@b> ORCPT=rfc822;you+2Bx@domain1.com").orcpt == "rfc822;you+x@domain1.com")
        #expect(try rcpt("TO:<a@b> ORCPT=utf-8;caf+C3+A9@b").orcpt == "utf-8;café@b")
    }
}
