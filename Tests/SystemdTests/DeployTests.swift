import Foundation
import Testing
import TestSupport

/// deploy/systemd: the units as systemd reads them, the whole stack under a real systemd booted in a
/// container, and the Debian package (scripts/package.sh) installed and removed in one.
@Suite("deploy/systemd", .serialized)
struct DeployTests {
    /// deploy/services: the one list every script starts, installs and tests.
    static let services = try! String(contentsOfFile: TestSupport.packageRoot + "/deploy/services", encoding: .utf8)
        .split(separator: "\n").map(String.init)
    /// What each service takes from systemd (FileDescriptorName= its main.swift looks for).
    static let socketNames = ["drac-registry": "drac-registry", "relay-policy": "relay-policy", "queue": "queue",
                              "smtpfeed-out": "smtpfeed-out", "smtp-in": "smtp", "pop3": "pop3", "local-delivery": "local-delivery"]

    static func unit(_ name: String) throws -> [String: [String]] {
        let text = try String(contentsOfFile: TestSupport.packageRoot + "/deploy/systemd/" + name, encoding: .utf8)
        var keys: [String: [String]] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.hasPrefix("[") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            keys[String(line[..<equals]), default: []].append(String(line[line.index(after: equals)...]))
        }
        return keys
    }

    @Test("systemd-analyze verify passes every unit without a single warning")
    func verify() async throws {
        let binaries = (TestSupport.binary("mailstack") as NSString).deletingLastPathComponent
        let result = try await TestSupport.runAsync([TestSupport.packageRoot + "/scripts/verify-units.sh", binaries])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        // A .service and a .socket per service, the submission socket, and mailstack.target.
        #expect(result.stdout.contains("\(2 * Self.services.count + 2) units verified, no warnings"), "\(result.stdout)")
    }

    @Test("each service: Type=notify, watchdog, restart on failure, its own user, its socket under the name it expects")
    func shape() throws {
        let target = try Self.unit("mailstack.target")
        let wanted = Set(target["Wants", default: []].flatMap { $0.split(separator: " ").map(String.init) })
        // What every mailstack-*.service gets from the prefix drop-in, then its own lines.
        let shared = try Self.unit("mailstack-.service.d/10-mailstack.conf")
        var users: Set<String> = []
        for service in Self.services {
            let unit = shared.merging(try Self.unit("mailstack-" + service + ".service")) { _, own in own }
            #expect(unit["Type"] == ["notify"], "\(service)")
            #expect(unit["WatchdogSec"] != nil, "\(service)")
            #expect(unit["Restart"] == ["on-failure"], "\(service)")
            #expect(unit["Requires"] == nil, "\(service) must start whatever its peers' state")
            #expect(unit["ProtectSystem"] == ["strict"] && unit["NoNewPrivileges"] == ["yes"] && unit["PrivateTmp"] == ["yes"], "\(service)")
            #expect(unit["CapabilityBoundingSet"] == [""], "\(service) needs no capability: systemd binds ports 25 and 110")
            users.insert(unit["User"]?.first ?? "")
            #expect(unit["MemoryMax"] != nil && unit["TasksMax"] != nil, "\(service) has caps")
            let socket = try Self.unit("mailstack-" + service + ".socket")
            #expect(socket["FileDescriptorName"] == [Self.socketNames[service]!], "\(service)")
            if let mode = socket["SocketMode"] { #expect(mode == ["0660"], "\(service)") }
            #expect(wanted.contains("mailstack-" + service + ".service") && wanted.contains("mailstack-" + service + ".socket"), "\(service)")
        }
        #expect(users.count == Self.services.count, "one user per service: \(users)")
        #expect(try Self.unit("mailstack-smtp-in.socket")["ListenStream"] == ["25"])
        #expect(try Self.unit("mailstack-pop3.socket")["ListenStream"] == ["110"])
        // The queue's second socket, for the sendmail command: every local user may connect.
        let submit = try Self.unit("mailstack-submit.socket")
        #expect(submit["FileDescriptorName"] == ["submit"] && submit["SocketMode"] == ["0666"] && submit["Service"] == ["mailstack-queue.service"])
        #expect(try Self.unit("mailstack-queue.service")["Sockets"] == ["mailstack-queue.socket mailstack-submit.socket"])
        #expect(wanted.contains("mailstack-submit.socket"))
    }

    /// A container script's failure: its steps and the FAIL line (which the dump of units and
    /// journal that follows it would push out of a plain tail), then the tail and stderr.
    static func report(_ lines: [Substring], stderr: String) -> Comment {
        let steps = lines.filter { $0.hasPrefix("== ") || $0.hasPrefix("FAIL: ") }
        return "\(steps.joined(separator: "\n"))\n---\n\(lines.suffix(120).joined(separator: "\n"))\n\(stderr)"
    }

    @Test("system test: systemd in a container starts mailstack.target, mail flows, restarts lose nothing, shutdown is clean",
          .timeLimit(.minutes(5)))
    func nspawn() async throws {
        let binaries = (TestSupport.binary("mailstack") as NSString).deletingLastPathComponent
        let result = try await TestSupport.runAsync([TestSupport.packageRoot + "/Tests/System/nspawn-system-test.sh", binaries])
        let lines = result.stdout.split(separator: "\n")
        #expect(result.status == 0 && lines.last == "PASS", Self.report(lines, stderr: result.stderr))
        #expect(result.stdout.contains("0 refused"))
    }

    @Test("package: scripts/package.sh's .deb passes lintian, installs with dpkg under systemd in a container, carries mail, is bsd-mailx's MTA, removes and purges cleanly",
          .timeLimit(.minutes(6)))
    func package() async throws {
        let binaries = (TestSupport.binary("mailstack") as NSString).deletingLastPathComponent
        let result = try await TestSupport.runAsync([TestSupport.packageRoot + "/Tests/System/package-test.sh", binaries])
        let lines = result.stdout.split(separator: "\n")
        #expect(result.status == 0 && lines.last == "PASS", Self.report(lines, stderr: result.stderr))
        #expect(result.stdout.contains("dpkg: install ok installed|") && result.stdout.contains("|mail-transport-agent"))
        #expect(result.stdout.contains("lintian: no errors"))
    }
}
