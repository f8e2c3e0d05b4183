import SendmailCommand
import SMTP
import Testing

/// sendmail's command line as a table: what each form asks for, and what is a usage error.
@Suite("Sendmail command line")
struct SendmailArgumentsTests {
    static func parsed(_ argv: [String]) throws -> SendmailInvocation { try SendmailArguments.parse(argv) }

    @Test("the name picks the mode", arguments: [
        ("/usr/sbin/sendmail", SendmailInvocation.Mode.deliver), ("sendmail", .deliver), ("/usr/bin/mailq", .printQueue),
        ("mailq", .printQueue), ("/usr/bin/newaliases", .initAliases), ("/tmp/x/newaliases", .initAliases), ("send-mail", .deliver),
    ])
    func names(name: String, mode: SendmailInvocation.Mode) throws {
        #expect(try Self.parsed([name]).mode == mode)
    }

    @Test("options and their arguments, clustered or not")
    func options() throws {
        var i = try Self.parsed(["sendmail", "-oi", "-t", "-f", "root@domain1.com", "you@domain1.com", "user2"])
        #expect(i.ignoreDots && i.extractRecipients && i.sender == "root@domain1.com" && i.recipients == ["you@domain1.com", "user2"])
        i = try Self.parsed(["sendmail", "-tif", "a@b", "-Fx"])
        #expect(i.extractRecipients && i.ignoreDots && i.sender == "a@b" && i.fullName == "x")
        i = try Self.parsed(["sendmail", "-fa@b", "-F", "Full Name", "-N", "success,delay", "-R", "hdrs", "-V", "env-1", "-B", "8bitmime", "-v", "x"])
        #expect(i.sender == "a@b" && i.fullName == "Full Name" && i.notify == [.success, .delay] && i.ret == .headers)
        #expect(i.envid == "env-1" && i.body == .eightBitMIME && i.verbose && i.recipients == ["x"])
        i = try Self.parsed(["sendmail", "-r", "<>", "-N", "never", "x"])
        #expect(i.sender == "" && i.notify == .never)
        i = try Self.parsed(["sendmail", "-f<a@b>", "x"])
        #expect(i.sender == "a@b")
        i = try Self.parsed(["sendmail", "-C", "/etc/x.yaml", "--set", "ipc.directory=/tmp/d", "--set=log.level=debug", "x"])
        #expect(i.configFile == "/etc/x.yaml" && i.overrides == ["ipc.directory=/tmp/d", "log.level=debug"])
        i = try Self.parsed(["sendmail", "-O", "IgnoreDots=true", "x"])
        #expect(i.ignoreDots)
        i = try Self.parsed(["sendmail", "-O", "IgnoreDots=false", "-o", "i", "x"])
        #expect(i.ignoreDots) // -o i after it
        i = try Self.parsed(["sendmail", "--", "-not-an-option", "x"])
        #expect(i.recipients == ["-not-an-option", "x"])
    }

    @Test("modes and queue runs", arguments: [
        (["sendmail", "-bm", "x"], SendmailInvocation.Mode.deliver), (["sendmail", "-bs"], .smtp), (["sendmail", "-bp"], .printQueue),
        (["sendmail", "-bi"], .initAliases), (["sendmail", "-I"], .initAliases), (["sendmail", "-q"], .flush(queueID: nil)),
        (["sendmail", "-qf"], .flush(queueID: nil)), (["sendmail", "-qI0ABCDEFGHIJKLM"], .flush(queueID: "0ABCDEFGHIJKLM")),
        (["sendmail", "-q15m"], .ignored("-q15m")), (["sendmail", "-q1h"], .ignored("-q1h")),
        (["mailq", "-v"], .printQueue), (["sendmail", "-b", "s"], .smtp),
    ])
    func modes(argv: [String], mode: SendmailInvocation.Mode) throws {
        #expect(try Self.parsed(argv).mode == mode)
    }

    @Test("options accepted and ignored, as sendmail and Postfix do")
    func ignored() throws {
        let i = try Self.parsed(["sendmail", "-odb", "-oem", "-O", "DeliveryMode=b", "-m", "-n", "-h", "30", "-L", "label", "-U", "-G", "-c", "-s",
                                 "-X", "/tmp/log", "-pESMTP:host", "-d0.1", "-e", "x"])
        #expect(i.recipients == ["x"] && !i.ignoreDots)
        #expect(i.ignoredOptions == ["-odb", "-oem", "-ODeliveryMode=b", "-m", "-n", "-h30", "-Llabel", "-U", "-G", "-c", "-s",
                                     "-X/tmp/log", "-pESMTP:host", "-d0.1", "-e"])
    }

    @Test("usage errors", arguments: [
        (["sendmail", "-k"], "invalid option -- k"),
        (["sendmail", "-f"], "option requires an argument -- f"),
        (["sendmail", "-f", "a", "-r", "b", "x"], "More than one \"from\" person"),
        (["sendmail", "-N", "sometimes", "x"], "Invalid -N argument sometimes: never, or a list of success, failure, delay"),
        (["sendmail", "-N", "never,success", "x"], "Invalid -N argument never,success: never, or a list of success, failure, delay"),
        (["sendmail", "-R", "body", "x"], "Invalid -R argument body: full or hdrs"),
        (["sendmail", "-V", "a b", "x"], "Invalid -V argument: printable ASCII without blanks, at most 100 characters"),
        (["sendmail", "-B", "binarymime", "x"], "Invalid -B argument binarymime: 7BIT or 8BITMIME"),
        (["sendmail", "-bd"], "-bd is not supported by mailstack's sendmail (the daemons run under systemd)"),
        (["sendmail", "-bv", "x"], "-bv is not supported by mailstack's sendmail (the daemons run under systemd)"),
        (["sendmail", "-bz"], "Invalid operation mode z"),
        (["sendmail", "-qRdomain"], "-qRdomain is not supported (use -q or -qIqueue-id)"),
        (["sendmail", "-qI"], "-qI needs a queue id"),
        (["sendmail", "--verbose"], "unknown option --verbose"),
        (["sendmail", "--set"], "--set needs section.key=value"),
    ])
    func usage(argv: [String], message: String) {
        #expect(throws: SendmailUsageError(message)) { try Self.parsed(argv) }
    }
}
