import Foundation
import IPC
import IPCTransport
import Logging
import Testing
import TestSupport

/// Two drac-registry binaries (two hosts' registries) on one PostgreSQL, over their sockets.
@Suite("drac-registry daemons on PostgreSQL", .serialized, .enabled(if: TestPostgres.isInstalled))
struct DracPostgresDaemonTests {
    let server: TestPostgres
    let dir: String
    init() throws {
        server = try TestPostgres()
        dir = try TestSupport.temporaryDirectory("dracpg")
    }

    func start(_ host: String, _ extra: [String] = []) async throws -> DaemonProcess {
        try FileManager.default.createDirectory(atPath: "\(dir)/\(host)", withIntermediateDirectories: true)
        let daemon = try DaemonProcess("drac-registry", arguments: [
            "--set", "ipc.directory=\(dir)/\(host)", "--set", "ipc.socket_mode=0666", "--set", "drac.backend=pgsql",
            "--set", "pgsql.timeout=5s", "--set", "drac.cache_ttl=0s",
        ] + server.settings + extra, stderrPath: "\(dir)/\(host).stderr")
        try await TestSupport.waitForFile("\(dir)/\(host)/drac-registry.sock")
        return daemon
    }

    func request(_ host: String, _ body: IPCBody) async throws -> IPCBody {
        let client = IPCClient(configuration: .init(path: "\(dir)/\(host)/drac-registry.sock", service: "drac-registry", clientName: "test"),
                               logger: Logger(label: "test"))
        return try await withThrowingTaskGroup(of: IPCBody?.self) { group in
            group.addTask { await client.run(); return nil }
            defer { group.cancelAll() }
            return try await client.request(body)
        }
    }

    func authorized(_ host: String, _ address: String) async throws -> Bool {
        guard case let .dracLookupReply(reply) = try await request(host, .dracLookup(.with { $0.address = address })) else { return false }
        return reply.authorized
    }

    @Test("an add on host A authorizes on host B; with the database stopped B cannot say (UNAVAILABLE), then recovers")
    func twoDaemons() async throws {
        let a = try await start("a")
        let b = try await start("b")
        _ = try await request("a", .dracAdd(.with { $0.address = "192.0.2.20" }))
        #expect(try await authorized("b", "192.0.2.20"))
        #expect(try await !authorized("b", "192.0.2.21"))
        try server.stop()
        do {
            _ = try await request("b", .dracLookup(.with { $0.address = "192.0.2.20" }))
            Issue.record("a lookup answered with the database stopped")
        } catch let error as IPCError {
            #expect("\(error)".contains("database unavailable"), "\(error)")
        }
        try server.start()
        try await TestSupport.eventually { (try? await authorized("b", "192.0.2.20")) == true }
        #expect(try await a.stop() == 0)
        #expect(try await b.stop() == 0)
        #expect(b.stderr.contains("drac: database unavailable: drac lookup"), "\(b.stderr)")
    }

    @Test("a password file others may read is refused at start, naming the file")
    func passwordFileMode() async throws {
        let loose = dir + "/loose-password"
        FileManager.default.createFile(atPath: loose, contents: Data("secret\n".utf8), attributes: [.posixPermissions: 0o644])
        let daemon = try DaemonProcess("drac-registry", arguments: [
            "--set", "ipc.directory=\(dir)", "--set", "drac.backend=pgsql",
        ] + server.settings + ["--set", "pgsql.password_file=\(loose)"], stderrPath: dir + "/loose.stderr")
        let status = try await TestSupport.offPool { TestSupport.waitExit(daemon.pid) }
        #expect(status == 1)
        #expect(daemon.stderr.contains("pgsql.password_file: \(loose): readable by others (mode 644)"), "\(daemon.stderr)")
        _ = try? await daemon.stop()
    }
}
