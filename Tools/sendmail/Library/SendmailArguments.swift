import SMTP

/// What one run of the sendmail command is asked to do: its mode and the message's envelope
/// options, from the command line and the name it was called by.
public struct SendmailInvocation: Equatable, Sendable {
    public enum Mode: Equatable, Sendable {
        /// -bm (the default): read a message, submit it.
        case deliver
        /// -bs: an SMTP session on stdin and stdout.
        case smtp
        /// -bp, `mailq`: list the queue.
        case printQueue
        /// -bi, -I, `newaliases`: rebuild aliases.db.
        case initAliases
        /// -q, -qf: attempt the whole queue now; -qIID: one message.
        case flush(queueID: String?)
        /// -q with an interval: a queue-running daemon in sendmail; the queue runs itself here.
        case ignored(String)
    }

    public var mode = Mode.deliver
    /// Recipient arguments as given (each may be a list: `a@b, Name <c@d>`).
    public var recipients: [String] = []
    /// -t: recipients from To:, Cc:, Bcc: (arguments too); Bcc: removed.
    public var extractRecipients = false
    /// -i, -oi, -O IgnoreDots: a line of a single dot does not end the message.
    public var ignoreDots = false
    /// -f, -r: the envelope sender asked for (`<>` and the empty string: the null sender).
    public var sender: String?
    /// -F: the full name of the From: the queue adds.
    public var fullName: String?
    /// -N: NOTIFY for every recipient.
    public var notify: DSNNotify?
    /// -R: RET.
    public var ret: DSNReturn?
    /// -V: ENVID.
    public var envid: String?
    /// -B: BODY.
    public var body: SMTPBodyType?
    /// -v.
    public var verbose = false
    /// -C: the mailstack configuration file.
    public var configFile: String?
    /// --set section.key=value, as the other tools take it.
    public var overrides: [String] = []
    /// Options accepted and ignored (-o, -O, -h, ...), named for -v.
    public var ignoredOptions: [String] = []

    public init() {}
}

/// A command line sendmail would refuse: said on stderr with the usage, exit 64 (EX_USAGE).
public struct SendmailUsageError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// sendmail's command line, parsed by hand: its options are getopt's (clusters like `-ti`, an
/// option's argument in the same word or the next, `-oi` being option o with argument i), which
/// argument-parser does not read. The name the program is called by picks the default mode
/// (`mailq` is -bp, `newaliases` is -bi). Options sendmail and Postfix accept and ignore are
/// accepted and ignored; an unknown one is a usage error.
public enum SendmailArguments {
    public static let usage = """
        usage: sendmail [-t] [-i] [-f sender] [-F name] [-N dsn] [-R full|hdrs] [-V envid] [-B type] [-v]
                        [-C mailstack.yaml] [--set section.key=value]... [--] [recipient ...]
               sendmail -bs | -bp | -bi | -q | -qIqueue-id
               mailq | newaliases
        """

    /// Options without an argument that are accepted and ignored (sendmail's -c -e -G -m -n -s
    /// -T, Postfix's -U).
    static let ignoredFlags: Set<Character> = ["c", "e", "G", "m", "n", "s", "T", "U"]
    /// Options whose argument is accepted and ignored (-d debug, -h hop count, -L label, -M
    /// macro, -p protocol, -X traffic log, -A).
    static let ignoredWithArgument: Set<Character> = ["A", "d", "h", "L", "M", "p", "X"]

    public static func parse(_ argv: [String]) throws(SendmailUsageError) -> SendmailInvocation {
        var invocation = SendmailInvocation()
        switch (argv.first ?? "sendmail").split(separator: "/").last.map(String.init) ?? "" {
        case "mailq": invocation.mode = .printQueue
        case "newaliases": invocation.mode = .initAliases
        default: break
        }
        var index = 1
        while index < argv.count {
            let word = argv[index]
            index += 1
            if word == "--" {
                invocation.recipients += argv[index...]
                break
            }
            if word == "--set" {
                guard index < argv.count else { throw SendmailUsageError("--set needs section.key=value") }
                invocation.overrides.append(argv[index])
                index += 1
                continue
            }
            if word.hasPrefix("--set=") {
                invocation.overrides.append(String(word.dropFirst(6)))
                continue
            }
            if word.hasPrefix("--") { throw SendmailUsageError("unknown option \(word)") }
            guard word.hasPrefix("-"), word.count > 1 else {
                invocation.recipients.append(word)
                continue
            }
            let cluster = Array(word.dropFirst())
            var position = 0
            // The option's argument: the rest of this word, else the next word.
            func argument(_ option: Character) throws(SendmailUsageError) -> String {
                if position < cluster.count {
                    defer { position = cluster.count }
                    return String(cluster[position...])
                }
                guard index < argv.count else { throw SendmailUsageError("option requires an argument -- \(option)") }
                defer { index += 1 }
                return argv[index]
            }
            while position < cluster.count {
                let option = cluster[position]
                position += 1
                try apply(option, to: &invocation, argument: argument, rest: {
                    defer { position = cluster.count }
                    return String(cluster[position...])
                })
            }
        }
        return invocation
    }

    static func apply(_ option: Character, to invocation: inout SendmailInvocation,
                      argument: (Character) throws(SendmailUsageError) -> String,
                      rest: () -> String) throws(SendmailUsageError) {
        switch option {
        case "t": invocation.extractRecipients = true
        case "i": invocation.ignoreDots = true
        case "v": invocation.verbose = true
        case "I": invocation.mode = .initAliases
        case "f", "r":
            let sender = try argument(option)
            guard invocation.sender == nil else { throw SendmailUsageError("More than one \"from\" person") }
            invocation.sender = sender == "<>" ? "" : sender.hasPrefix("<") && sender.hasSuffix(">") ? String(sender.dropFirst().dropLast()) : sender
        case "F": invocation.fullName = try argument(option)
        case "b": invocation.mode = try mode(try argument(option))
        case "q": invocation.mode = try queueRun(rest())
        case "o":
            let value = try argument(option)
            if value == "i" { invocation.ignoreDots = true } else { invocation.ignoredOptions.append("-o" + value) }
        case "O":
            let value = try argument(option)
            let parts = value.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts[0].lowercased() == "ignoredots" {
                invocation.ignoreDots = parts.count == 1 || !["false", "f", "no", "n", "0"].contains(parts[1].lowercased())
            } else {
                invocation.ignoredOptions.append("-O" + value)
            }
        case "N":
            let value = try argument(option)
            guard let notify = DSNNotify(parsing: value.replacingOccurrences(of: " ", with: "")) else {
                throw SendmailUsageError("Invalid -N argument \(value): never, or a list of success, failure, delay")
            }
            invocation.notify = notify
        case "R":
            let value = try argument(option)
            guard let ret = DSNReturn(rawValue: value.uppercased()) else { throw SendmailUsageError("Invalid -R argument \(value): full or hdrs") }
            invocation.ret = ret
        case "V":
            let value = try argument(option)
            guard !value.isEmpty, value.utf8.count <= MailParameters.maxEnvid, value.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
                throw SendmailUsageError("Invalid -V argument: printable ASCII without blanks, at most \(MailParameters.maxEnvid) characters")
            }
            invocation.envid = value
        case "B":
            let value = try argument(option)
            guard let body = SMTPBodyType(rawValue: value.uppercased()) else { throw SendmailUsageError("Invalid -B argument \(value): 7BIT or 8BITMIME") }
            invocation.body = body
        case "C": invocation.configFile = try argument(option)
        default:
            if ignoredFlags.contains(option) {
                invocation.ignoredOptions.append("-\(option)")
            } else if ignoredWithArgument.contains(option) {
                invocation.ignoredOptions.append("-\(option)" + (try argument(option)))
            } else {
                throw SendmailUsageError("invalid option -- \(option)")
            }
        }
    }

    static func mode(_ value: String) throws(SendmailUsageError) -> SendmailInvocation.Mode {
        switch value {
        case "m": return .deliver
        case "s": return .smtp
        case "p": return .printQueue
        case "i": return .initAliases
        case "d", "D", "h", "H", "P", "t", "v", "a":
            throw SendmailUsageError("-b\(value) is not supported by mailstack's sendmail (the daemons run under systemd)")
        default: throw SendmailUsageError("Invalid operation mode \(value)")
        }
    }

    /// -q: the whole queue; -qf (foreground) the same; -qIID one message; -q15m an interval,
    /// which only a queue-running daemon had (Postfix ignores it too).
    static func queueRun(_ value: String) throws(SendmailUsageError) -> SendmailInvocation.Mode {
        if value.isEmpty || value == "f" { return .flush(queueID: nil) }
        if value.hasPrefix("I") {
            let id = String(value.dropFirst())
            guard !id.isEmpty else { throw SendmailUsageError("-qI needs a queue id") }
            return .flush(queueID: id)
        }
        let units: Set<Character> = ["s", "m", "h", "d", "w"]
        if value.first?.isNumber == true, value.allSatisfy({ $0.isNumber || units.contains($0) }) {
            return .ignored("-q" + value)
        }
        throw SendmailUsageError("-q\(value) is not supported (use -q or -qIqueue-id)")
    }
}
