import Foundation
import IPC
import IPCTransport
import Logging
import Testing
import TestSupport

/// The real drac-registry binary, driven over its socket and by `mailstack drac`.
@Suite("drac-registry daemon", .serialized)
struct DracDaemonTests {
    let dir: String
    init() throws { dir = try TestSupport.temporaryDirectory("dracd") }

    func start(_ extra: [String] = []) async throws -> DaemonProcess {
        unlink(dir + "/drac-registry.sock") // a stopped daemon leaves its socket file; wait for the new one
        let daemon = try DaemonProcess("drac-registry", arguments: [
            "--set", "ipc.directory=\(dir)", "--set", "drac.database=\(dir)/drac.db", "--set", "ipc.socket_mode=0666",
        ] + extra, stderrPath: dir + "/stderr-\(UInt32.random(in: 0...UInt32.max))")
        try await TestSupport.waitForFile(dir + "/drac-registry.sock")
        return daemon
    }

    func admin(_ args: [String], as user: UInt32? = nil) async throws -> TestSupport.Result {
        let command = [TestSupport.binary("mailstack"), "drac"] + args + ["--set", "ipc.directory=\(dir)"]
        if let user {
            return try await TestSupport.runAsync(["/usr/bin/setpriv", "--reuid=\(user)", "--regid=\(user)", "--clear-groups"] + command)
        }
        return try await TestSupport.runAsync(command)
    }

    func lookup(_ address: String) async throws -> Bool {
        let client = IPCClient(configuration: .init(path: dir + "/drac-registry.sock", service: "drac-registry", clientName: "test"),
                               logger: Logger(label: "test"))
        return try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { await client.run(); return false }
            defer { group.cancelAll() }
            guard case let .dracLookupReply(reply) = try await client.request(.dracLookup(.with { $0.address = address })) else {
                return false
            }
            return reply.authorized
        }
    }

    @Test("add, lookup, list, delete and flush through mailstack drac")
    func adminCommands() async throws {
        let daemon = try await start()
        let added = try await admin(["add", "::ffff:192.0.2.44"])
        #expect(added.status == 0)
        #expect(added.stdout.hasPrefix("192.0.2.44 authorized until "))
        #expect(try await lookup("192.0.2.44"))
        #expect(try await !lookup("192.0.2.45"))
        _ = try await admin(["add", "2001:db8::44"])
        let list = try await admin(["list"])
        #expect(list.stdout.split(separator: "\n").map { $0.split(separator: "\t")[0] } == ["192.0.2.44", "2001:db8::44"])
        #expect(try await admin(["del", "192.0.2.44"]).stdout == "192.0.2.44 removed\n")
        #expect(try await !lookup("192.0.2.44"))
        #expect(try await admin(["flush"]).stdout == "1 entries removed\n")
        let bad = try await admin(["add", "not-an-ip"])
        #expect(bad.status == 65)
        #expect(bad.stderr == "mailstack: drac-registry: not an IPv4 or IPv6 address: not-an-ip\n")
        #expect(try await daemon.stop() == 0)
        #expect(daemon.stderr.contains("drac add 192.0.2.44 until "))
    }

    @Test("writers are decided by kernel credentials: others may neither add nor list")
    func writers() async throws {
        let daemon = try await start()
        _ = try await admin(["add", "192.0.2.60"])
        let refused = try await admin(["add", "192.0.2.61"], as: 65534)
        #expect(refused.status == 77)
        #expect(refused.stderr == "mailstack: drac-registry: add is allowed to pop3 and administrators only\n")
        #expect(try await admin(["flush"], as: 65534).status == 77)
        // The list names every client that logged in: administrators only.
        let listed = try await admin(["list"], as: 65534)
        #expect(listed.status == 77)
        #expect(listed.stderr.contains("drac.list is not allowed to this peer"), "\(listed.stderr)")
        _ = try await daemon.stop()
        #expect(daemon.stderr.contains("drac add refused: mailstack[pid="))
        #expect(daemon.stderr.contains("uid=65534 gid=65534] is not an allowed writer"))

        // The same user, named as pop3's writer, may add.
        let allowing = try await start(["--set", "drac.writer_users=65534"])
        let allowed = try await admin(["add", "192.0.2.61"], as: 65534)
        #expect(allowed.status == 0, "\(allowed.stderr)")
        _ = try await allowing.stop()
    }

    @Test("lookups are answered to relay-policy's user only (ipc.service_users), decided by kernel credentials")
    func lookupsOnlyForRelayPolicy() async throws {
        let lookup = [TestSupport.binary("ipc-bench"), "--socket", dir + "/drac-registry.sock", "--service", "drac-registry",
                      "--drac-lookup", "--requests", "1", "--concurrency", "1"]
        let asNobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + lookup
        var daemon = try await start()
        let refused = try await TestSupport.runAsync(asNobody)
        #expect(refused.status != 0)
        _ = try await daemon.stop()
        #expect(daemon.stderr.contains("ipc drac.lookup refused: "), "\(daemon.stderr)")

        daemon = try await start(["--set", "ipc.service_users=relay-policy=65534"])
        let allowed = try await TestSupport.runAsync(asNobody)
        #expect(allowed.status == 0, "\(allowed.stderr)")
        _ = try await daemon.stop()
    }

    @Test("a short window expires exactly, the sweep empties the database, a restart keeps live entries")
    func windowSweepRestart() async throws {
        var daemon = try await start(["--set", "drac.window=2s", "--set", "drac.sweep_interval=1s"])
        let added = ContinuousClock.now
        _ = try await admin(["add", "192.0.2.70"])
        // The daemon added it between `added` and now, stamped in whole epoch seconds: expired
        // 2 s after now at the latest (a bound from before the add was luck on a loaded machine,
        // where the admin process can reach the daemon a fraction of a second later).
        let addedBy = ContinuousClock.now
        // Authorized while the window lasts (on a loaded machine the two processes this takes
        // may outlast the 2 s: then the window ended it).
        let seen = try await lookup("192.0.2.70")
        #expect(seen || ContinuousClock.now - added >= .seconds(1))
        try await Task.sleep(until: addedBy + .milliseconds(2050))
        #expect(try await !lookup("192.0.2.70"))
        let sweeping = daemon
        try await TestSupport.eventually { sweeping.stderr.contains("drac sweep: 1 expired entries removed") }
        let dump = try await TestSupport.runAsync(["/usr/bin/db5.3_dump", "-p", dir + "/drac.db"])
        #expect(!dump.stdout.contains("192.0.2.70"), "swept from the file")
        _ = try await daemon.stop()

        daemon = try await start(["--set", "drac.window=1h"])
        _ = try await admin(["add", "192.0.2.71"])
        #expect(try await daemon.stop() == 0)
        daemon = try await start(["--set", "drac.window=1h"])
        #expect(try await lookup("192.0.2.71"), "kept across a restart")
        #expect(daemon.stderr.contains("drac-registry ready: 1 addresses authorized"))
        _ = try await daemon.stop()
    }

    @Test("killed with SIGKILL, it loses no acknowledged add")
    func crash() async throws {
        let daemon = try await start(["--set", "drac.window=1h"])
        for i in 1...20 { _ = try await admin(["add", "192.0.2.\(100 + i)"]) }
        _ = try await daemon.stop(signal: SIGKILL)
        let restarted = try await start(["--set", "drac.window=1h"])
        let list = try await admin(["list"])
        #expect(list.stdout.split(separator: "\n").count == 20)
        _ = try await restarted.stop()
    }
}
