import Foundation

/// Turns a sendmail.mc into mailstack.yaml. Every directive is accounted for: translated into a
/// key, ignored (no meaning here, with the reason), or unsupported (with the reason), so an
/// administrator sees what carried over and what did not.
public struct MCImporter {
    public enum Outcome: Equatable, Sendable {
        case translated([String])
        case ignored(String)
        case unsupported(String)
    }

    public struct Finding: Equatable, Sendable {
        public var line: Int
        public var directive: String
        public var outcome: Outcome
    }

    public private(set) var values: [(name: String, value: ConfigValue, line: Int)] = []
    public private(set) var findings: [Finding] = []
    var settingsDirectory = "/etc/mail/"
    var inLocalRuleset: (name: String, line: Int, rules: [String])?

    public init() {}

    public static func importMC(_ text: String) -> MCImporter {
        var importer = MCImporter()
        // CR LF is one Character in Swift, not a "\n": both end a line.
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        for (index, raw) in lines.enumerated() {
            importer.take(String(raw), line: index + 1)
        }
        importer.closeRuleset()
        return importer
    }

    // MARK: lines

    mutating func take(_ raw: String, line: Int) {
        var text = raw
        if let dnl = text.range(of: "dnl"), Self.isDnl(text, at: dnl) { text = String(text[..<dnl.lowerBound]) }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { return }
        if inLocalRuleset != nil {
            if trimmed.hasPrefix("R") {
                inLocalRuleset!.rules.append(raw)
                return
            }
            closeRuleset()
        }
        if trimmed.hasPrefix("#") { return }
        if trimmed.hasPrefix("S") && !trimmed.contains("(") {
            inLocalRuleset = (String(trimmed.dropFirst()), line, [])
            return
        }
        if trimmed.hasPrefix("D") && !trimmed.contains("(") && trimmed.count >= 2 {
            macroDefinition(trimmed, line: line)
            return
        }
        if trimmed.hasPrefix("M") && !trimmed.contains("(") && trimmed.contains("=") {
            mailerDefinition(trimmed, line: line)
            return
        }
        guard let (name, args) = Self.call(trimmed) else {
            switch trimmed {
            case "MAILER_DEFINITIONS", "LOCAL_RULESETS", "LOCAL_CONFIG":
                note(line, trimmed, .ignored("m4 section marker"))
            default:
                note(line, trimmed, .unsupported("not a directive mailstack knows"))
            }
            return
        }
        directive(name, args, line: line, text: trimmed)
    }

    /// `dnl` as the m4 keyword (not inside a word such as `sendmail`).
    static func isDnl(_ text: String, at range: Range<String.Index>) -> Bool {
        range.lowerBound == text.startIndex || !(text[text.index(before: range.lowerBound)].isLetter)
    }

    /// NAME(args) with m4 quotes removed from each argument.
    static func call(_ text: String) -> (String, [String])? {
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")"), open < close else { return nil }
        let name = String(text[..<open])
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
        var args: [String] = []
        var current = ""
        var depth = 0
        for c in text[text.index(after: open)..<close] {
            switch c {
            case "`": depth += 1; if depth == 1 { continue }
            case "'": depth -= 1; if depth == 0 { continue }
            case "," where depth == 0:
                args.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
                continue
            default: break
            }
            current.append(c)
        }
        args.append(current.trimmingCharacters(in: .whitespaces))
        return (name, args)
    }

    mutating func note(_ line: Int, _ directive: String, _ outcome: Outcome) {
        findings.append(Finding(line: line, directive: directive, outcome: outcome))
    }

    mutating func set(_ line: Int, _ directive: String, _ pairs: [(String, ConfigValue)]) {
        for (name, value) in pairs {
            precondition(ConfigKey.named(name) != nil, "importer sets unknown key \(name)")
            values.removeAll { $0.name == name }
            values.append((name, value, line))
        }
        note(line, directive, .translated(pairs.map(\.0)))
    }

    // MARK: directives

    mutating func macroDefinition(_ text: String, line: Int) {
        let macro = text.dropFirst().first!
        let value = String(text.dropFirst(2))
        switch macro {
        case "w": set(line, text, [("host.name", .scalar(value))])
        case "m": set(line, text, [("host.domain", .scalar(value))])
        case "j": set(line, text, [("host.fqdn", .scalar(value))])
        default: note(line, text, .unsupported("macro $\(macro) has no meaning in mailstack"))
        }
    }

    mutating func mailerDefinition(_ text: String, line: Int) {
        let fields = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let name = String(fields[0].dropFirst())
        var pairs: [(String, ConfigValue)] = []
        for field in fields.dropFirst() {
            if field.hasPrefix("M=") { pairs.append(("outbound.max_message_size", .scalar(String(field.dropFirst(2))))) }
            if field.hasPrefix("L=") { pairs.append(("outbound.max_line", .scalar(String(field.dropFirst(2))))) }
        }
        let program = fields.first { $0.hasPrefix("P=") } ?? ""
        if program.contains("smtpfeed") {
            set(line, "M\(name) (smtpfeed)", pairs)
        } else {
            note(line, "M\(name)", .unsupported("custom mailer \(program): delivery is by queue (local) and smtpfeed-out (SMTP) only"))
        }
    }

    mutating func directive(_ name: String, _ args: [String], line: Int, text: String) {
        let first = args.first ?? ""
        switch name {
        case "divert": note(line, text, .ignored("m4 housekeeping"))
        case "VERSIONID": note(line, text, .ignored("the .mc file's own version string"))
        case "OSTYPE": note(line, text, .ignored("operating-system paths of sendmail; mailstack's paths are its own keys"))
        case "DOMAIN":
            note(line, text, .ignored("site defaults of sendmail's cf/domain/\(first).m4 (.forward, redirect, use_cw_file): mailstack's own defaults apply; extra local names go in host.local_names"))
        case "MAILER":
            switch first {
            case "smtp": note(line, text, .ignored("SMTP delivery is smtpfeed-out, always present"))
            case "local": note(line, text, .ignored("local delivery is the queue's Maildir delivery, always present"))
            default: note(line, text, .unsupported("mailer \(first) does not exist in mailstack"))
            }
        case "define": define(args, line: line, text: text)
        case "FEATURE": feature(args, line: line, text: text)
        case "MASQUERADE_AS": set(line, text, [("masquerade.as", .scalar(first))])
        case "VIRTUSER_DOMAIN_FILE": set(line, text, [("maps.virtuser_domains", .scalar(Self.mapPath(first, addDB: false)))])
        default: note(line, text, .unsupported("\(name) has no equivalent in mailstack"))
        }
    }

    mutating func define(_ args: [String], line: Int, text: String) {
        guard args.count >= 2 else { return note(line, text, .unsupported("define needs a name and a value")) }
        let (name, value) = (args[0], args[1])
        let simple: [String: String] = [
            "confDOMAIN_NAME": "host.fqdn",
            "confMAX_MESSAGE_SIZE": "smtp.max_message_size",
            "confMAX_HOP": "smtp.max_hop_count",
            "confMIN_QUEUE_AGE": "queue.min_age",
            "confTO_QUEUEWARN": "queue.warn_after",
            "confTO_QUEUERETURN": "queue.return_after",
            "confTO_IDENT": "smtp.ident_timeout",
            "confSMTP_LOGIN_MSG": "smtp.login_message",
            "confOPERATORS": "smtp.operators",
            "confMAX_RCPTS_PER_MESSAGE": "smtp.max_recipients",
            "confSERVER_CERT": "smtp.tls_certificate",
            "confSERVER_KEY": "smtp.tls_key",
            "QUEUE_DIR": "queue.directory",
        ]
        if let key = simple[name] {
            return set(line, text, [(key, .scalar(value))])
        }
        switch name {
        case "ALIAS_FILE":
            // "hash:/etc/mail/aliases" or a list of files: the first is the one mailstack reads.
            let first = value.split(separator: ",").first.map { String($0).trimmingCharacters(in: .whitespaces) } ?? value
            set(line, text, [("maps.aliases", .scalar(first.hasPrefix("hash:") ? String(first.dropFirst(5)) : first))])
        case "MAIL_SETTINGS_DIR":
            settingsDirectory = value.hasSuffix("/") ? value : value + "/"
            note(line, text, .ignored("map paths are given in full by the maps.* keys (\(settingsDirectory) is their default directory)"))
        case "confPRIVACY_FLAGS":
            set(line, text, [("smtp.privacy", .list(value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }))])
        case "confTRUSTED_USERS":
            // sendmail's class t, words separated by blanks (commas tolerated).
            let users = value.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" }).map(String.init)
            set(line, text, [("submit.trusted_users", .list(users))])
        case "SMART_HOST":
            // smtpf:LMTP hands all remote mail to smtpfeed, which resolves MX itself: that is
            // smtpfeed-out's default, so no smart host. A real relay host carries over.
            if value.hasPrefix("smtpf:") {
                set(line, text, [("outbound.smart_host", .scalar(""))])
            } else {
                let host = value.split(separator: ":", maxSplits: 1).last.map(String.init) ?? value
                set(line, text, [("outbound.smart_host", .scalar(host))])
            }
        default:
            note(line, text, .unsupported("\(name) has no equivalent in mailstack"))
        }
    }

    mutating func feature(_ args: [String], line: Int, text: String) {
        let name = args.first ?? ""
        let spec = args.count > 1 ? args[1] : ""
        switch name {
        case "mailertable":
            set(line, text, [("maps.mailertable", .scalar(spec.isEmpty ? settingsDirectory + "mailertable.db" : Self.mapPath(spec, addDB: true)))])
        case "virtusertable":
            set(line, text, [("maps.virtusertable", .scalar(spec.isEmpty ? settingsDirectory + "virtusertable.db" : Self.mapPath(spec, addDB: true)))])
        case "access_db":
            set(line, text, [("maps.access", .scalar(spec.isEmpty ? settingsDirectory + "access.db" : Self.mapPath(spec, addDB: true)))])
        case "masquerade_envelope": set(line, text, [("masquerade.envelope", .scalar("true"))])
        case "drac": set(line, text, [("policy.drac", .scalar("true"))])
        case "no_default_msa": set(line, text, [("smtp.submission", .scalar("false"))])
        case "nocanonify": set(line, text, [("smtp.canonify", .scalar("false"))])
        default: note(line, text, .unsupported("FEATURE(\(name)) has no equivalent in mailstack"))
        }
    }

    /// The file of a map spec like `hash -o -T<TMPF> /etc/mail/access`: the last word, with
    /// `.db` added as makemap does.
    static func mapPath(_ spec: String, addDB: Bool) -> String {
        let path = spec.split(separator: " ").last.map(String.init) ?? spec
        return addDB && !path.hasSuffix(".db") ? path + ".db" : path
    }

    /// The seed's Local_check_relay (reject TEMP, FAIL, FORGED client_resolve) is the built-in
    /// PTR check; any other local ruleset cannot be carried over.
    mutating func closeRuleset() {
        guard let ruleset = inLocalRuleset else { return }
        inLocalRuleset = nil
        let text = "S\(ruleset.name) (\(ruleset.rules.count) rules)"
        let body = ruleset.rules.joined(separator: "\n")
        let isPTRCheck = ruleset.name == "Local_check_relay" && body.contains("client_resolve")
            && ["TEMP", "FAIL", "FORGED"].allSatisfy { tag in ruleset.rules.contains { $0.hasPrefix("R" + tag) } }
        if isPTRCheck {
            set(ruleset.line, text, [("policy.ptr_check", .scalar("true"))])
        } else {
            note(ruleset.line, text, .unsupported("custom rulesets cannot be run; relay-policy's decisions are configured by keys"))
        }
    }

    // MARK: output

    /// The configuration file: every translated key under its section, with the .mc line it
    /// came from.
    public func yaml(source: String) -> String {
        var out = "# mailstack.yaml imported from \(source) by `mailstack import-mc`.\n"
        out += "# Keys not listed keep their defaults (docs/configuration.md).\n"
        var sections: [String: [String]] = [:]
        var order: [String] = []
        for (name, value, line) in values {
            let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
            if sections[parts[0]] == nil { order.append(parts[0]) }
            sections[parts[0], default: []].append("  \(parts[1]): \(Self.yamlValue(value))   # \(source):\(line)")
        }
        for section in order {
            out += "\(section):\n" + sections[section]!.joined(separator: "\n") + "\n"
        }
        return out
    }

    static func yamlValue(_ value: ConfigValue) -> String {
        // A double-quoted YAML scalar: `\` and `"` escaped, and every character YAML does not
        // allow in a file or would read as a line break (C0 and C1 controls, DEL, NEL, BOM) as
        // \uXXXX, so the value reads back exactly.
        func quote(_ s: String) -> String {
            var out = "\""
            for scalar in s.unicodeScalars {
                switch scalar.value {
                case 0x5C: out += "\\\\"
                case 0x22: out += "\\\""
                case 0x20...0x7E, 0xA0...0xD7FF, 0xE000...0xFEFE, 0xFF00...0xFFFD, 0x10000...: out.unicodeScalars.append(scalar)
                default: // all below 0x10000
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                }
            }
            return out + "\""
        }
        switch value {
        case let .scalar(s): return quote(s)
        case let .list(l): return "[" + l.map(quote).joined(separator: ", ") + "]"
        }
    }

    /// The report: one line per directive.
    public func report(source: String) -> String {
        findings.map { finding in
            let what: String
            switch finding.outcome {
            case let .translated(keys): what = keys.isEmpty ? "translated" : "translated -> " + keys.joined(separator: ", ")
            case let .ignored(why): what = "ignored: " + why
            case let .unsupported(why): what = "UNSUPPORTED: " + why
            }
            return "\(source):\(finding.line): \(finding.directive): \(what)"
        }.joined(separator: "\n")
    }
}
