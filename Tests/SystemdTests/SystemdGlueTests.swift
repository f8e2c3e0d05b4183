import Foundation
import IPC
import IPCTransport
import Logging
import Testing

/// The systemd glue of every daemon, through sd-probe (the smallest daemon on Shared/Daemon),
/// with a harness in place of systemd.
@Suite("systemd glue without systemd", .serialized)
struct SystemdGlueTests {
    let logger = Logger(label: "mailstack.test")

    func ping(_ path: String) async throws -> String {
        let client = IPCClient(configuration: .init(path: path, service: "sd-probe", clientName: "test",
                                                    requestTimeout: .seconds(30)), logger: logger)
        return try await withThrowingTaskGroup(of: String.self) { group in
            group.addTask { await client.run(); return "" }
            var p = Mailstack_Ipc_Ping()
            p.payload = Data("hello".utf8)
            guard case let .pong(pong) = try await client.request(.ping(p)) else { return "no pong" }
            group.cancelAll()
            return pong.service + ":" + String(decoding: pong.payload, as: UTF8.self)
        }
    }

    @Test("socket-activated: READY after the passed socket answers, WATCHDOG at half the interval, STOPPING on SIGTERM")
    func activated() async throws {
        let harness = try ActivationHarness()
        let socketPath = harness.directory + "/probe.sock"
        let listener = try harness.listeningSocket(socketPath)
        try harness.spawn([ActivationHarness.binary("sd-probe"), "--set", "ipc.directory=\(harness.directory)/unused"],
                          sockets: [listener], names: ["sd-probe"], watchdogUSec: 200_000)
        close(listener)
        var seen: [String] = []
        #expect(await harness.waitFor("READY=1", seen: &seen), "\(seen) \(harness.stderr)")
        #expect(seen.last?.contains("STATUS=answering pings") == true)
        #expect(try await ping(socketPath) == ":hello")
        #expect(!FileManager.default.fileExists(atPath: harness.directory + "/unused/sd-probe.sock"), "did not bind its own socket")
        #expect(await harness.waitFor("WATCHDOG=1", seen: &seen))
        #expect(await harness.waitFor("WATCHDOG=1", seen: &seen))
        kill(harness.pid, SIGTERM)
        #expect(await harness.waitFor("STOPPING=1", seen: &seen))
        #expect(await harness.waitExit() == 0)
        #expect(harness.stderr.contains("mailstack.sd-probe["))
        #expect(harness.stderr.contains("listening on socket passed by systemd (sd-probe)"))
        #expect(harness.stderr.contains("sd-probe stopped"))
    }

    @Test("socket-activated with ipc.max_idle: stops by itself (exit 0) once idle; a connection made meanwhile waits in the socket and the next start answers it")
    func idleStop() async throws {
        let harness = try ActivationHarness()
        let socketPath = harness.directory + "/probe.sock"
        // Held here all along, as systemd holds a .socket unit's.
        let listener = try harness.listeningSocket(socketPath)
        let argv = [ActivationHarness.binary("sd-probe"), "--set", "ipc.directory=\(harness.directory)/unused",
                    "--set", "ipc.max_idle=2s"]
        // A connection first, as a connection is what makes systemd start a service: it waits
        // in the socket's backlog and is accepted as the service starts, so the service is busy
        // from its start, however late the ping comes on a loaded machine (one made after READY
        // came later than the idle time once and found the service stopping). It says nothing
        // and is closed once the ping is answered.
        let holder = try ActivationHarness.connect(socketPath)
        try harness.spawn(argv, sockets: [listener], names: ["sd-probe"])
        var seen: [String] = []
        #expect(await harness.waitFor("READY=1", seen: &seen), "\(seen) \(harness.stderr)")
        #expect(try await ping(socketPath) == ":hello")
        close(holder)
        // No signal: the service ends by itself, two seconds after the ping's connection closed.
        #expect(await harness.waitFor("STOPPING=1", seen: &seen), "\(harness.stderr)")
        #expect(await harness.waitExit() == 0)
        #expect(harness.stderr.contains("sd-probe: no connection for 2.0 s; stopping until systemd's socket has the next one"))
        #expect(harness.stderr.contains("sd-probe stopped"))

        // What systemd does next: the socket is readable, the service starts again with it, and
        // the client that connected while nothing ran is answered (its connection made before
        // the start, as above).
        let waiting = try ActivationHarness.connect(socketPath)
        async let answer = ping(socketPath)
        try harness.spawn(argv, sockets: [listener], names: ["sd-probe"])
        close(listener)
        #expect(try await answer == ":hello")
        close(waiting)
        kill(harness.pid, SIGTERM)
        #expect(await harness.waitExit() == 0)
    }

    @Test("not activated: binds <ipc.directory>/sd-probe.sock itself with the configured mode and group, no watchdog without WATCHDOG_USEC")
    func selfBound() async throws {
        let harness = try ActivationHarness()
        let directory = harness.directory + "/run"
        try harness.spawn([ActivationHarness.binary("sd-probe"), "--set", "ipc.directory=\(directory)",
                           "--set", "ipc.socket_group=65534", "--set", "ipc.socket_mode=0640"])
        var seen: [String] = []
        #expect(await harness.waitFor("READY=1", seen: &seen), "\(harness.stderr)")
        #expect(try await ping(directory + "/sd-probe.sock") == ":hello")
        var st = stat()
        #expect(stat(directory + "/sd-probe.sock", &st) == 0)
        #expect(st.st_mode & 0o777 == 0o640)
        #expect(st.st_gid == 65534)
        kill(harness.pid, SIGINT)
        #expect(await harness.waitFor("STOPPING=1", seen: &seen))
        #expect(!seen.contains { $0.contains("WATCHDOG=1") })
        #expect(await harness.waitExit() == 0)
    }

    @Test("a bad configuration is refused at start with file, line and reason, exit 78")
    func badConfiguration() async throws {
        let harness = try ActivationHarness()
        let file = harness.directory + "/bad.yaml"
        try "drac:\n  window: 30m\n  windw: 1h\n".write(toFile: file, atomically: true, encoding: .utf8)
        try harness.spawn([ActivationHarness.binary("sd-probe"), "--config", file])
        #expect(await harness.waitExit() == 78)
        #expect(harness.stderr == "mailstack: configuration refused: \(file):3: unknown key 'drac.windw'\n")
    }
}
