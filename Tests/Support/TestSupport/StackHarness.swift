import Foundation

/// The stack's real binaries started for a test: the seed's maps (built with `mailstack
/// makemap` from etc/mail), a passwd-file, a dnsmasq on loopback, state in a temporary
/// directory, free loopback ports. Each service is started only when its binary exists.
public final class StackHarness: @unchecked Sendable {
    public let dir: String
    public private(set) var smtpPort: Int
    public private(set) var submissionPort: Int
    public private(set) var pop3Port: Int
    public let dns: TestDNSServer
    public private(set) var processes: [String: DaemonProcess] = [:]
    public private(set) var settings: [String]

    /// deploy/services: every service in start order (the one list the scripts use too).
    public static let allServices = try! String(contentsOfFile: TestSupport.packageRoot + "/deploy/services", encoding: .utf8)
        .split(separator: "\n").map(String.init)

    /// Users and their passwords (PLAIN in the passwd-file, so APOP works too).
    public static let users = ["you": "secret1", "user2": "secret2", "user4": "secret4"]

    /// `services` in start order; `extra` are further `section.key=value` settings;
    /// `mailertableRoute` replaces the seed's private mailertable destination; `dualStack` has
    /// SMTP and POP3 listen on [::] (IPv4 clients then arrive as ::ffff:a.b.c.d), as systemd's
    /// `ListenStream=25` does; `aliases` are lines added to the sample etc/mail/aliases.
    public init(services: [String] = StackHarness.allServices,
                dnsRecords: [String] = [], extra: [String] = [], tls: Bool = false, mailertableRoute: String? = nil,
                dualStack: Bool = false, aliases: String = "") async throws {
        dir = try TestSupport.temporaryDirectory("stack")
        chmod(dir, 0o755)
        let base = TestSupport.freePorts(3)
        (smtpPort, submissionPort, pop3Port) = (base, base + 1, base + 2)
        dns = try await TestDNSServer(records: dnsRecords)
        let seed = TestSupport.packageRoot + "/etc/mail/"
        for name in ["access", "virtusertable", "mailertable"] {
            var source = try String(contentsOfFile: seed + name, encoding: .utf8)
            if name == "mailertable", let route = mailertableRoute { source = source.replacingOccurrences(of: "[192.168.0.100]", with: route) }
            let built = try await TestSupport.runAsync([TestSupport.binary("mailstack"), "makemap", "hash", "\(dir)/\(name)"], input: Array(source.utf8))
            guard built.status == 0 else { throw POSIXError(.EINVAL) }
        }
        try FileManager.default.copyItem(atPath: seed + "virtuser-domains", toPath: dir + "/virtuser-domains")
        try (String(contentsOfFile: seed + "aliases", encoding: .utf8) + aliases).write(toFile: dir + "/aliases", atomically: true, encoding: .utf8)
        let newaliases = try await TestSupport.runAsync([TestSupport.binary("mailstack"), "newaliases", dir + "/aliases"])
        guard newaliases.status == 0 else { throw POSIXError(.EINVAL) }
        try Self.users.sorted { $0.key < $1.key }.map { "\($0.key):{PLAIN}\($0.value)\n" }.joined()
            .write(toFile: dir + "/passwd", atomically: true, encoding: .utf8)
        var settings = [
            "ipc.directory=\(dir)", "ipc.socket_mode=0666", "log.level=info",
            "maps.access=\(dir)/access.db", "maps.virtusertable=\(dir)/virtusertable.db",
            "maps.mailertable=\(dir)/mailertable.db", "maps.virtuser_domains=\(dir)/virtuser-domains", "maps.aliases=\(dir)/aliases",
            "pop3.passwd_file=\(dir)/passwd", "dns.servers=\(dns.server)", "dns.timeout=2s",
            "drac.database=\(dir)/drac.db", "queue.directory=\(dir)/spool", "queue.maildir_root=\(dir)/maildirs",
            "pop3.failure_delay=0s",
        ]
        if tls {
            let made = try await TestSupport.runAsync(["/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                                                       "-subj", "/CN=host.domain.com", "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem"])
            guard made.status == 0 else { throw POSIXError(.EINVAL) }
            settings += ["smtp.tls_certificate=\(dir)/cert.pem", "smtp.tls_key=\(dir)/key.pem",
                         "pop3.tls_certificate=\(dir)/cert.pem", "pop3.tls_key=\(dir)/key.pem"]
        }
        let host = dualStack ? "[::]" : "127.0.0.1"
        func listening(_ smtp: Int, _ submission: Int, _ pop3: Int) -> [String] {
            ["smtp.listen=\(host):\(smtp)", "smtp.submission_listen=127.0.0.1:\(submission)", "pop3.listen=\(host):\(pop3)"]
        }
        self.settings = settings + listening(smtpPort, submissionPort, pop3Port) + extra
        for service in services where FileManager.default.isExecutableFile(atPath: TestSupport.binary(service)) {
            // Another test running beside this one may bind a port between `freePorts` and the
            // listener's start: the listener is started again on ports picked anew.
            var attempts = 0
            while true {
                do {
                    try await start(service)
                    break
                } catch let failure as StartFailure where failure.description.contains("Address already in use") && attempts < 5 {
                    attempts += 1
                    switch service {
                    case "smtp-in": (smtpPort, submissionPort) = { ($0, $0 + 1) }(TestSupport.freePorts(2))
                    case "pop3": pop3Port = TestSupport.freePorts(1)
                    default: throw failure
                    }
                    self.settings = settings + listening(smtpPort, submissionPort, pop3Port) + extra
                }
            }
        }
    }

    /// Starts (or restarts) one service and waits for its READY log line; `extra` settings
    /// override the stack's for this start (a smart host known only once another stack runs).
    public func start(_ service: String, extra: [String] = []) async throws {
        let log = "\(dir)/\(service).log"
        let previous = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        if !previous.isEmpty { try previous.write(toFile: log + ".old", atomically: true, encoding: .utf8) }
        let process = try DaemonProcess(service, arguments: (settings + extra).flatMap { ["--set", $0] }, stderrPath: log)
        processes[service] = process
        // Generous: with the suite in parallel beside a benchmark, dozens of daemons start at once.
        try await TestSupport.eventually(timeout: .seconds(90)) { process.stderr.contains("\(service) ready") || process.exitStatus != nil }
        if let status = process.exitStatus {
            throw StartFailure(description: "\(service) exited with status \(status) at start: \(process.stderr.suffix(2000))")
        }
    }

    /// Stops one service (SIGTERM, or the signal given); returns its exit status.
    @discardableResult
    public func stop(_ service: String, signal: Int32 = SIGTERM) async throws -> Int32 {
        guard let process = processes.removeValue(forKey: service) else { return -1 }
        return try await process.stop(signal: signal)
    }

    /// Stops every service, last started first; returns their exit statuses.
    public func stopAll() async throws -> [String: Int32] {
        var statuses: [String: Int32] = [:]
        for service in ["smtp-in", "pop3", "smtpfeed-out", "queue", "local-delivery", "relay-policy", "drac-registry"] where processes[service] != nil {
            statuses[service] = try await stop(service)
        }
        return statuses
    }

    public func log(_ service: String) -> String {
        ((try? String(contentsOfFile: "\(dir)/\(service).log.old", encoding: .utf8)) ?? "")
            + ((try? String(contentsOfFile: "\(dir)/\(service).log", encoding: .utf8)) ?? "")
    }

    /// The messages in a user's Maildir new/, oldest first.
    public func mailbox(_ user: String) -> [String] {
        let new = dir + "/maildirs/\(user)/new"
        return ((try? FileManager.default.contentsOfDirectory(atPath: new)) ?? []).sorted()
            .compactMap { try? String(contentsOfFile: new + "/" + $0, encoding: .utf8) }
    }
}

/// A service of a test's stack that died before it was ready, with the end of its log.
public struct StartFailure: Error, CustomStringConvertible {
    public var description: String
}
