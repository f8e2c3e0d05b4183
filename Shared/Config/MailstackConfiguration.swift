import Foundation

/// The whole configuration, with one typed view per area. Services take the views they need.
public struct MailstackConfiguration: Sendable {
    public let values: ConfigValues

    public init(values: ConfigValues = ConfigValues()) { self.values = values }

    /// The defaults: the seed's sendmail.mc.
    public static let defaults = MailstackConfiguration()

    // MARK: host

    public var hostName: String { values.string("host.name") }
    public var domain: String { values.string("host.domain") }
    /// $j, with $w and $m expanded.
    public var fqdn: String {
        Self.expandMacros(values.string("host.fqdn")) { $0 == "w" ? hostName : $0 == "m" ? domain : nil }
    }
    public var localNames: [String] { [fqdn] + values.list("host.local_names").map { expand($0, keep: []) } }

    /// Expands sendmail macros $w, $m, $j; macros in `keep` (like "b") and unknown ones stay.
    public func expand(_ text: String, keep: Set<Character>) -> String {
        Self.expandMacros(text) { macro in
            if keep.contains(macro) { return nil }
            switch macro {
            case "w": return hostName
            case "m": return domain
            case "j": return fqdn
            default: return nil
            }
        }
    }

    static func expandMacros(_ text: String, _ lookup: (Character) -> String?) -> String {
        var out = ""
        var iterator = text.makeIterator()
        while let c = iterator.next() {
            guard c == "$", let macro = iterator.next() else {
                out.append(c)
                continue
            }
            out += lookup(macro) ?? "$" + String(macro)
        }
        return out
    }

    // MARK: smtp

    public var smtpListen: [String] { values.list("smtp.listen") }
    public var maxMessageSize: Int { values.size("smtp.max_message_size") }
    /// The greeting text with $j/$w/$m expanded and $b left for each connection.
    public var loginMessage: String { expand(values.string("smtp.login_message"), keep: ["b"]) }
    public var privacyFlags: Set<String> { Set(values.list("smtp.privacy").map { $0.lowercased() }) }
    public var operators: String { values.string("smtp.operators") }
    public var maxRecipients: Int { values.int("smtp.max_recipients") }
    public var maxBadCommands: Int { values.int("smtp.max_bad_commands") }
    public var maxHopCount: Int { values.int("smtp.max_hop_count") }
    public var smtpCommandTimeout: Duration { values.duration("smtp.command_timeout") }
    public var smtpDataTimeout: Duration { values.duration("smtp.data_timeout") }
    public var smtpMaxConnections: Int { values.int("smtp.max_connections") }
    public var smtpMaxConnectionsPerClient: Int { values.int("smtp.max_connections_per_client") }
    public var tlsCertificate: String { values.string("smtp.tls_certificate") }
    public var tlsKey: String { values.string("smtp.tls_key") }
    public var submissionEnabled: Bool { values.bool("smtp.submission") }
    public var submissionListen: [String] { values.list("smtp.submission_listen") }

    // MARK: queue

    public var queueDirectory: String { values.string("queue.directory") }
    public var minQueueAge: Duration { values.duration("queue.min_age") }
    public var queueWarnAfter: Duration { values.duration("queue.warn_after") }
    public var queueReturnAfter: Duration { values.duration("queue.return_after") }
    public var maildirRoot: String { values.string("queue.maildir_root") }
    public var postmaster: String { values.string("queue.postmaster") }
    public var queueDeliveries: Int { values.int("queue.deliveries") }
    /// Octets the spool's file system must keep free (sendmail's MinFreeBlocks).
    public var queueMinFree: Int { values.size("queue.min_free") }
    /// queue.delivery_mode is "queueonly".
    public var queueOnly: Bool { values.string("queue.delivery_mode") == "queueonly" }

    // MARK: submit

    /// submit.trusted_users: names or uids.
    public var submitTrustedUsers: [String] { values.list("submit.trusted_users") }
    public var submitMaxPerMinute: Int { values.int("submit.max_messages_per_minute") }
    /// The queue's socket for local submission, open to every local user: <ipc.directory>/submit.sock.
    public var submitSocketPath: String { ipcDirectory + "/submit.sock" }
    /// sendmail's PrivacyOptions=authwarnings (goaway includes it): X-Authentication-Warning: headers.
    public var authWarnings: Bool { !privacyFlags.isDisjoint(with: ["authwarnings", "goaway"]) }

    // MARK: masquerade

    /// Masquerade domain, $m expanded; nil when off.
    public var masqueradeAs: String? {
        let value = expand(values.string("masquerade.as"), keep: [])
        return value.isEmpty ? nil : value
    }
    public var masqueradeEnvelope: Bool { values.bool("masquerade.envelope") }

    // MARK: maps

    public var accessMap: String { values.string("maps.access") }
    public var virtusertableMap: String { values.string("maps.virtusertable") }
    public var mailertableMap: String { values.string("maps.mailertable") }
    /// The aliases source file; its database is this path + ".db".
    public var aliasesFile: String { values.string("maps.aliases") }
    public var virtuserDomainsFile: String { values.string("maps.virtuser_domains") }
    public var mapCheckInterval: Duration { values.duration("maps.check_interval") }

    // MARK: policy

    public var ptrCheck: Bool { values.bool("policy.ptr_check") }
    /// policy.spf: check (true) or off.
    public var spfCheck: Bool { values.string("policy.spf") == "check" }
    /// policy.dmarc: off, report-only or enforce.
    public var dmarcMode: String { values.string("policy.dmarc") }
    /// policy.authserv_id, host.fqdn when empty.
    public var authservID: String { values.string("policy.authserv_id").isEmpty ? fqdn : values.string("policy.authserv_id") }
    public var publicSuffixList: String { values.string("policy.public_suffix_list") }
    public var ptrCheckAllow: [String] { values.list("policy.ptr_check_allow") }
    public var dracEnabled: Bool { values.bool("policy.drac") }

    // MARK: outbound

    public var smartHost: String { values.string("outbound.smart_host") }
    public var outboundMaxMessageSize: Int { values.size("outbound.max_message_size") }
    public var outboundMaxLine: Int { values.int("outbound.max_line") }
    public var outboundPort: Int { values.int("outbound.port") }
    public var outboundMaxConnections: Int { values.int("outbound.max_connections") }
    public var outboundMaxConnectionsPerHost: Int { values.int("outbound.max_connections_per_host") }
    public var outboundMaxRecipients: Int { values.int("outbound.max_recipients") }
    public var outboundConnectTimeout: Duration { values.duration("outbound.connect_timeout") }
    public var outboundCommandTimeout: Duration { values.duration("outbound.command_timeout") }
    public var outboundDataTimeout: Duration { values.duration("outbound.data_timeout") }
    public var outboundHostBackoff: Duration { values.duration("outbound.host_backoff") }
    public var outboundRequireTLS: [String] { values.list("outbound.require_tls").map { $0.lowercased() } }
    /// Lowercase domain -> its pinned SHA-256 fingerprints (lowercase hexadecimal, no colons).
    public var outboundTLSFingerprints: [String: [String]] {
        values.list("outbound.tls_fingerprints").compactMap(Self.fingerprintPin)
            .reduce(into: [:]) { pins, pin in pins[pin.domain, default: []].append(pin.fingerprint) }
    }

    /// "domain=sha256:HEX" -> (domain, hex), or nil when it is not that.
    static func fingerprintPin(_ entry: String) -> (domain: String, fingerprint: String)? {
        guard let equals = entry.firstIndex(of: "=") else { return nil }
        let domain = entry[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
        let value = entry[entry.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        guard !domain.isEmpty, value.lowercased().hasPrefix("sha256:") else { return nil }
        let hex = value.dropFirst(7).filter { $0 != ":" }.lowercased()
        guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else { return nil }
        return (domain, hex)
    }

    /// A ConfigError pointing at where key `name` was set (file and line, variable, command line).
    public func error(at name: String, _ reason: String, file: String = "mailstack.yaml") -> ConfigError {
        switch values.source(name) {
        case let .file(path, line): return ConfigError(file: path, line: line, reason: reason)
        case let .environment(variable): return ConfigError(file: "environment", line: nil, reason: "\(variable): \(reason)")
        case .commandLine: return ConfigError(file: "command line", line: nil, reason: reason)
        case .defaultValue: return ConfigError(file: file, line: nil, reason: reason)
        }
    }

    // MARK: drac

    public var dracWindow: Duration { values.duration("drac.window") }
    public var dracDatabase: String { values.string("drac.database") }
    /// drac.sweep_interval, or window/10 when empty.
    public var dracSweepInterval: Duration {
        values.string("drac.sweep_interval").isEmpty ? dracWindow / 10 : values.duration("drac.sweep_interval")
    }
    public var dracWriterUsers: [String] { values.list("drac.writer_users") }
    public var dracWriterGroups: [String] { values.list("drac.writer_groups") }

    // MARK: pop3

    public var pop3Listen: [String] { values.list("pop3.listen") }
    public var pop3PasswdFile: String { values.string("pop3.passwd_file") }
    public var pop3TLSCertificate: String { values.string("pop3.tls_certificate") }
    public var pop3TLSKey: String { values.string("pop3.tls_key") }
    public var pop3IdleTimeout: Duration { values.duration("pop3.idle_timeout") }
    public var pop3FailureDelay: Duration { values.duration("pop3.failure_delay") }
    public var pop3MaxFailures: Int { values.int("pop3.max_failures") }
    public var pop3FailureWindow: Duration { values.duration("pop3.failure_window") }
    public var pop3AuthCacheTTL: Duration { values.duration("pop3.auth_cache_ttl") }
    public var pop3LoginTimeout: Duration { values.duration("pop3.login_timeout") }
    public var pop3MaxUserFailures: Int { values.int("pop3.max_user_failures") }
    public var pop3MaxSessions: Int { values.int("pop3.max_sessions") }
    public var pop3MaxSessionsPerAddress: Int { values.int("pop3.max_sessions_per_address") }

    // MARK: ipc

    public var ipcDirectory: String { values.string("ipc.directory") }
    public var ipcMaxFrame: Int { values.size("ipc.max_frame") }
    public var ipcRequestTimeout: Duration { values.duration("ipc.request_timeout") }
    public var ipcMaxIdle: Duration { values.duration("ipc.max_idle") }
    public var ipcIdleClose: Duration { values.duration("ipc.idle_close") }
    public var adminGroup: String { values.string("ipc.admin_group") }
    /// ipc.service_users as service -> user (name or uid).
    public var serviceUsers: [String: String] {
        Dictionary(values.list("ipc.service_users").compactMap { entry in
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            return parts.count == 2 ? (parts[0], parts[1]) : nil
        }, uniquingKeysWith: { $1 })
    }
    static let serviceNames: Set<String> = ["smtp-in", "pop3", "queue", "relay-policy", "smtpfeed-out", "drac-registry", "local-delivery"]
    public var ipcSocketGroup: String { values.string("ipc.socket_group") }
    public var ipcSocketMode: mode_t { mode_t(values.string("ipc.socket_mode"), radix: 8) ?? 0o660 }

    /// The socket path of a service: <ipc.directory>/<service>.sock.
    public func socketPath(for service: String) -> String { ipcDirectory + "/" + service + ".sock" }

    // MARK: dns and log

    public var dnsServers: [String] { values.list("dns.servers") }
    public var dnsTimeout: Duration { values.duration("dns.timeout") }
    public var logLevel: String { values.string("log.level") }

    // MARK: validation across keys

    static let knownPrivacyFlags: Set<String> = [
        "public", "needmailhelo", "needexpnhelo", "needvrfyhelo", "noexpn", "novrfy", "noetrn", "noverb",
        "restrictmailq", "restrictqrun", "restrictexpand", "noreceipts", "nobodyreturn", "goaway", "authwarnings",
        "noactualrecipient",
    ]

    static let logLevels: Set<String> = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// The most recipients smtp-in may take per message: Postfix's smtpd_recipient_limit default,
    /// and what the queue's spool header (4 MiB) holds with room to spare at the RFC maxima.
    public static let maxRecipientsCeiling = 1000

    /// Checks that need more than one value's kind. Errors name the line the value came from.
    func validate(file: String) throws {
        func fail(_ name: String, _ reason: String) -> ConfigError { error(at: name, reason, file: file) }
        for flag in values.list("smtp.privacy") where !Self.knownPrivacyFlags.contains(flag.lowercased()) {
            throw fail("smtp.privacy", "unknown privacy flag '\(flag)'")
        }
        if values.duration("smtp.ident_timeout") != .zero {
            throw fail("smtp.ident_timeout", "IDENT lookups are not supported: smtp.ident_timeout must be 0s")
        }
        if values.bool("smtp.canonify") {
            throw fail("smtp.canonify", "DNS canonification of addresses is not supported (FEATURE(nocanonify) is built in)")
        }
        if operators.contains("%") {
            throw fail("smtp.operators", "'%' may not be an address operator: the %-hack is never honoured")
        }
        if maxRecipients < 100 {
            throw fail("smtp.max_recipients", "must be at least 100 (RFC 5321 section 4.5.3.1.8)")
        }
        // The queue's spool header is sized for this many recipients at the RFC maxima
        // (QueueEnvelope.maxHeaderLength): more could be accepted and not stored.
        if maxRecipients > Self.maxRecipientsCeiling {
            throw fail("smtp.max_recipients", "must be at most \(Self.maxRecipientsCeiling) (what the queue's spool header is sized for)")
        }
        if smtpMaxConnections < 1 || smtpMaxConnectionsPerClient < 1 {
            throw fail(smtpMaxConnections < 1 ? "smtp.max_connections" : "smtp.max_connections_per_client", "must be at least 1")
        }
        if maxMessageSize <= 0 { throw fail("smtp.max_message_size", "must be positive") }
        if submissionEnabled && tlsCertificate.isEmpty {
            throw fail("smtp.submission", "the submission listener offers AUTH only after STARTTLS: set smtp.tls_certificate and smtp.tls_key")
        }
        if tlsCertificate.isEmpty != tlsKey.isEmpty {
            throw fail(tlsCertificate.isEmpty ? "smtp.tls_key" : "smtp.tls_certificate",
                       "smtp.tls_certificate and smtp.tls_key go together")
        }
        if pop3TLSCertificate.isEmpty != pop3TLSKey.isEmpty {
            throw fail(pop3TLSCertificate.isEmpty ? "pop3.tls_key" : "pop3.tls_certificate",
                       "pop3.tls_certificate and pop3.tls_key go together")
        }
        for entry in values.list("ipc.service_users") {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, Self.serviceNames.contains(parts[0]), !parts[1].isEmpty else {
                throw fail("ipc.service_users", "'\(entry.prefix(60))' is not service=user with a service of \(Self.serviceNames.sorted().joined(separator: ", "))")
            }
        }
        for name in ["smtp.listen", "smtp.submission_listen", "pop3.listen"] {
            for address in values.list(name) where ListenAddress(address) == nil {
                throw fail(name, "'\(address)' is not host:port or [v6]:port")
            }
        }
        if !(minQueueAge < queueWarnAfter && queueWarnAfter < queueReturnAfter) {
            throw fail("queue.return_after", "queue timers must grow: min_age < warn_after < return_after")
        }
        if !["background", "queueonly"].contains(values.string("queue.delivery_mode")) {
            throw fail("queue.delivery_mode", "must be background or queueonly")
        }
        for name in ["outbound.max_connections", "outbound.max_connections_per_host", "outbound.max_recipients"] where values.int(name) < 1 {
            throw fail(name, "must be at least 1")
        }
        if !(1...65535).contains(outboundPort) { throw fail("outbound.port", "must be a port number") }
        for entry in values.list("outbound.tls_fingerprints") where Self.fingerprintPin(entry) == nil {
            throw fail("outbound.tls_fingerprints", "'\(entry)' is not domain=sha256:HEX (64 hexadecimal digits, colons allowed)")
        }
        try validateDKIM(fail)
        if outboundMaxLine < 78 || outboundMaxLine > 998 { throw fail("outbound.max_line", "must be between 78 and 998 (RFC 5322 2.1.1)") }
        if queueDeliveries < 1 { throw fail("queue.deliveries", "must be at least 1") }
        if postmaster.isEmpty || postmaster.contains("/") { throw fail("queue.postmaster", "must be a local mailbox name") }
        if dracWindow <= .zero { throw fail("drac.window", "must be positive") }
        if dracSweepInterval <= .zero { throw fail("drac.sweep_interval", "must be positive") }
        if mode_t(values.string("ipc.socket_mode"), radix: 8).map({ $0 & ~0o777 != 0 }) ?? true {
            throw fail("ipc.socket_mode", "'\(values.string("ipc.socket_mode"))' is not an octal file mode like 0660")
        }
        if ipcMaxFrame < 66 * 1024 { throw fail("ipc.max_frame", "must be at least 67584 (a stream chunk must fit)") }
        if !Self.logLevels.contains(logLevel) { throw fail("log.level", "unknown level '\(logLevel)'") }
        try validateLocal(fail)
        try validatePostgres(fail)
        for name in ["queue.directory", "queue.maildir_root", "ipc.directory", "drac.database"] where !values.string(name).hasPrefix("/") {
            throw fail(name, "must be an absolute path")
        }
    }
}

/// host:port or [v6]:port.
public struct ListenAddress: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init?(_ text: String) {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()) else { return nil }
            port = p
        } else {
            guard let colon = text.lastIndex(of: ":"), let p = Int(text[text.index(after: colon)...]) else { return nil }
            host = String(text[..<colon])
            port = p
        }
        guard !host.isEmpty, (0...65535).contains(port) else { return nil }
    }
}
