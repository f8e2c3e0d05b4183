import Foundation
import MailstackConfig
import Testing

@Suite("configuration file")
struct ConfigTests {
    func write(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "mailstack-\(UUID().uuidString).yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func refusal(_ text: String, overrides: [String] = [], environment: [String: String] = [:]) throws -> ConfigError? {
        let path = try write(text)
        do {
            _ = try ConfigLoader.load(file: path, overrides: overrides, environment: environment)
            return nil
        } catch let error as ConfigError {
            return error
        }
    }

    @Test("the defaults are the seed's sendmail.mc")
    func defaults() throws {
        let c = try ConfigLoader.load(file: nil, environment: [:])
        #expect(c.fqdn == "host.domain.com")
        #expect(c.maxMessageSize == 5_242_880)
        #expect(c.minQueueAge == .seconds(15 * 60))
        #expect(c.queueWarnAfter == .seconds(3600))
        #expect(c.queueReturnAfter == .seconds(86400))
        #expect(c.values.duration("smtp.ident_timeout") == .zero)
        #expect(c.privacyFlags == ["goaway", "restrictmailq", "restrictqrun"])
        #expect(c.loginMessage == "host.domain.com Domain YOU/Original; $b")
        #expect(!c.operators.contains("%"))
        #expect(!c.submissionEnabled)
        #expect(c.masqueradeAs == "domain.com")
        #expect(c.masqueradeEnvelope)
        #expect(c.accessMap == "/etc/mail/access.db")
        #expect(c.virtusertableMap == "/etc/mail/virtusertable.db")
        #expect(c.mailertableMap == "/etc/mail/mailertable.db")
        #expect(c.virtuserDomainsFile == "/etc/mail/virtuser-domains")
        #expect(c.dracWindow == .seconds(1800))
        #expect(c.dracEnabled)
        #expect(c.ptrCheck)
        #expect(c.socketPath(for: "queue") == "/run/mailstack/queue.sock")
        #expect(c.submitSocketPath == "/run/mailstack/submit.sock")
        #expect(c.submitTrustedUsers.isEmpty && c.submitMaxPerMinute == 60)
        #expect(c.authWarnings) // goaway includes authwarnings
    }

    @Test("local submission: trusted users, the per-user limit, authwarnings from the privacy flags")
    func submit() throws {
        let path = try write("submit:\n  trusted_users: [majordomo, \"1001\"]\n  max_messages_per_minute: 0\nsmtp:\n  privacy: [restrictmailq]\n")
        let c = try ConfigLoader.load(file: path, environment: [:])
        #expect(c.submitTrustedUsers == ["majordomo", "1001"] && c.submitMaxPerMinute == 0 && !c.authWarnings)
        #expect(try ConfigLoader.load(file: nil, overrides: ["smtp.privacy=authwarnings"], environment: [:]).authWarnings)
        #expect(try refusal("submit:\n  max_messages_per_minute: -1\n")?.reason
            == "submit.max_messages_per_minute: '-1' is not an integer from 0 to 2147483647")
    }

    @Test("a valid file sets values; units and lists parse")
    func valid() throws {
        let path = try write("""
        host:
          name: mx
          domain: example.test
        smtp:
          max_message_size: 10M
          listen: ["127.0.0.1:2525", "[::1]:2525"]
        queue:
          min_age: 1m30s
          warn_after: 2h
          return_after: 5d
        drac:
          window: 90
        """)
        let c = try ConfigLoader.load(file: path, environment: [:])
        #expect(c.fqdn == "mx.example.test")
        #expect(c.maxMessageSize == 10 << 20)
        #expect(c.smtpListen == ["127.0.0.1:2525", "[::1]:2525"])
        #expect(c.minQueueAge == .seconds(90))
        #expect(c.dracWindow == .seconds(90))
        #expect(c.values.source("queue.warn_after") == .file(path: path, line: 9))
    }

    @Test("errors name the file, the line and the reason", arguments: [
        ("smtp:\n  max_message_size: big\n", 2, "smtp.max_message_size: 'big' is not a size up to 1T (octets, or with K, M, G)"),
        // Values that would overflow a timer or a size computation later are refused here.
        ("smtp:\n  max_message_size: 9223372036854775807G\n", 2,
         "smtp.max_message_size: '9223372036854775807G' is not a size up to 1T (octets, or with K, M, G)"),
        ("smtp:\n  command_timeout: 99999999999999w\n", 2,
         "smtp.command_timeout: '99999999999999w' is not a duration up to 3650d (like 30s, 15m, 1h, 1d)"),
        ("smtp:\n  data_timeout: 9223372036854775807\n", 2,
         "smtp.data_timeout: '9223372036854775807' is not a duration up to 3650d (like 30s, 15m, 1h, 1d)"),
        ("smtp:\n  max_recipients: 99999999999999999999\n", 2, "smtp.max_recipients: '99999999999999999999' is not an integer from 0 to 2147483647"),
        ("smtp:\n  max_recipients: 1001\n", 2, "must be at most 1000 (what the queue's spool header is sized for)"),
        ("smtp:\n  max_connections: -1\n", 2, "smtp.max_connections: '-1' is not an integer from 0 to 2147483647"),
        ("smtp:\n  max_mesage_size: 10\n", 2, "unknown key 'smtp.max_mesage_size'"),
        ("smpt:\n  x: 1\n", 1, "unknown section 'smpt'"),
        ("queue:\n  min_age: 15x\n", 2, "queue.min_age: '15x' is not a duration up to 3650d (like 30s, 15m, 1h, 1d)"),
        ("smtp:\n  canonify: true\n", 2, "DNS canonification of addresses is not supported (FEATURE(nocanonify) is built in)"),
        ("smtp:\n  operators: \".:%@!^/[]+\"\n", 2, "'%' may not be an address operator: the %-hack is never honoured"),
        ("smtp:\n  ident_timeout: 5s\n", 2, "IDENT lookups are not supported: smtp.ident_timeout must be 0s"),
        ("smtp:\n  privacy: [goaway, nosuchflag]\n", 2, "unknown privacy flag 'nosuchflag'"),
        ("smtp:\n  listen: [\"nonsense\"]\n", 2, "'nonsense' is not host:port or [v6]:port"),
        ("host:\n  name: a\n  name: b\n", 2, "set twice in one section: name"),
        ("host:\n  name: [a\n", 3, "YAML syntax: did not find expected ',' or ']'"),
        ("queue:\n  warn_after: 2d\n", nil, "queue timers must grow: min_age < warn_after < return_after"),
        ("- a\n- b\n", 1, "the file must be a mapping of sections (host:, smtp:, ...)"),
        ("outbound:\n  tls_fingerprints: [\"example.com=sha256:zz\"]\n", 2,
         "'example.com=sha256:zz' is not domain=sha256:HEX (64 hexadecimal digits, colons allowed)"),
        ("outbound:\n  tls_fingerprints: [\"example.com=md5:00\"]\n", 2,
         "'example.com=md5:00' is not domain=sha256:HEX (64 hexadecimal digits, colons allowed)"),
    ] as [(String, Int?, String)])
    func errors(text: String, line: Int?, reason: String) throws {
        let error = try #require(try refusal(text))
        #expect(error.reason == reason)
        if let line {
            #expect(error.line == line)
            #expect(error.description.contains(":\(line): \(reason)"))
        }
    }

    @Test("pinned certificates: openssl's colon form and bare hex, any case, several per domain")
    func fingerprints() throws {
        let hex = String(repeating: "ab", count: 32)
        let colons = stride(from: 0, to: 64, by: 2).map { i in String(hex.uppercased().dropFirst(i).prefix(2)) }.joined(separator: ":")
        let path = try write("outbound:\n  tls_fingerprints: [\"Example.COM=sha256:\(colons)\", \"example.com=SHA256:\(String(repeating: "0", count: 64))\", \"b.test=sha256:\(hex)\"]\n")
        let c = try ConfigLoader.load(file: path, environment: [:])
        #expect(c.outboundTLSFingerprints == ["example.com": [hex, String(repeating: "0", count: 64)], "b.test": [hex]])
    }

    @Test("durations print back in the file's notation", arguments: [("30m", "30m"), ("1d", "1d"), ("90", "1m30s"), ("0s", "0s"), ("1w2h", "1w2h")])
    func durationText(input: String, output: String) {
        #expect(ConfigParsers.duration(input)?.configText == output)
    }

    @Test("environment and command line override the file, the command line last")
    func overrides() throws {
        let path = try write("smtp:\n  max_message_size: 1000\nipc:\n  directory: /var/run/x\n")
        let env = ["MAILSTACK_SMTP_MAX_MESSAGE_SIZE": "2000", "MAILSTACK_IPC_DIRECTORY": "/tmp/ms", "MAILSTACK_DNS_SERVERS": "127.0.0.1:5353, 127.0.0.2"]
        let c = try ConfigLoader.load(file: path, overrides: ["smtp.max_message_size=3000"], environment: env)
        #expect(c.maxMessageSize == 3000)
        #expect(c.ipcDirectory == "/tmp/ms")
        #expect(c.dnsServers == ["127.0.0.1:5353", "127.0.0.2"])
        #expect(c.values.source("ipc.directory") == .environment("MAILSTACK_IPC_DIRECTORY"))
        #expect(c.values.source("smtp.max_message_size") == .commandLine)
    }

    @Test("a bad override is refused with its origin")
    func badOverrides() throws {
        #expect(throws: ConfigError(file: "command line", line: nil, reason: "--set smtp.nope: unknown key")) {
            try ConfigLoader.load(file: nil, overrides: ["smtp.nope=1"], environment: [:])
        }
        #expect(throws: ConfigError(file: "environment", line: nil, reason: "MAILSTACK_DRAC_WINDOW: drac.window: 'soon' is not a duration up to 3650d (like 30s, 15m, 1h, 1d)")) {
            try ConfigLoader.load(file: nil, environment: ["MAILSTACK_DRAC_WINDOW": "soon"])
        }
    }

    @Test("a missing file is refused with its name")
    func missingFile() {
        #expect(throws: ConfigError.self) { try ConfigLoader.load(file: "/nonexistent/mailstack.yaml", environment: [:]) }
    }

    @Test("every key has a default that loads, a summary and a sendmail.mc note")
    func everyKeyDocumented() throws {
        #expect(ConfigKey.all.count == Set(ConfigKey.all.map(\.name)).count)
        for key in ConfigKey.all {
            #expect(!key.summary.isEmpty, "\(key.name)")
            #expect(!key.sendmail.isEmpty, "\(key.name)")
            #expect(key.name.split(separator: ".").count == 2, "\(key.name)")
        }
        let markdown = ConfigDocumentation.markdown()
        for key in ConfigKey.all { #expect(markdown.contains("| \(key.name) |")) }
    }

    @Test("docs/configuration.md is the generated reference, up to date")
    func docsUpToDate() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let committed = try String(contentsOf: root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        #expect(committed == ConfigDocumentation.markdown(), "regenerate with: mailstack config-doc > docs/configuration.md")
    }

    @Test("the sample etc/mailstack.yaml loads")
    func sample() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        _ = try ConfigLoader.load(file: root.appendingPathComponent("etc/mailstack.yaml").path, environment: [:])
    }
}
