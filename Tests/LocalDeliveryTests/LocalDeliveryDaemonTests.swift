#if canImport(Glibc)
import Glibc
#endif
import Foundation
import IPC
import IPCTransport
import LocalDeliveryService
import Logging
import NIOCore
import Testing
import TestSupport

/// The real local-delivery binary over its socket: the queue's typed client, and the peer
/// policy decided by the kernel's credentials.
@Suite("local-delivery daemon", .serialized)
struct LocalDeliveryDaemonTests {
    func start(_ fixture: LocalFixture, _ extra: [String] = []) async throws -> DaemonProcess {
        unlink(fixture.dir + "/local-delivery.sock")
        let daemon = try DaemonProcess("local-delivery", arguments: [
            "--set", "ipc.directory=\(fixture.dir)", "--set", "ipc.socket_mode=0666", "--set", "local.smrsh_directory=\(fixture.smrsh)",
        ] + extra, stderrPath: fixture.dir + "/stderr-\(UInt32.random(in: 0...UInt32.max))")
        try await TestSupport.eventually { daemon.stderr.contains("local-delivery ready") }
        return daemon
    }

    func request(_ fixture: LocalFixture, out name: String) -> Mailstack_Ipc_LocalDeliver {
        .with {
            $0.queueID = "q7"
            $0.sender = "a@example.test"
            $0.recipient = "info@domain1.com"
            $0.originalRecipient = "info@domain1.com"
            $0.alias = "info"
            $0.kind = .program
            $0.target = "/usr/bin/probe \(fixture.out)/\(name)"
        }
    }

    /// local.deliver as this process (root: always allowed), through the queue's client.
    func deliver(_ fixture: LocalFixture, _ job: Mailstack_Ipc_LocalDeliver) async throws -> Mailstack_Ipc_LocalResult {
        let ipc = IPCClient(configuration: .init(path: fixture.dir + "/local-delivery.sock", service: "local-delivery", clientName: "queue"),
                            logger: Logger(label: "test"))
        return try await withThrowingTaskGroup(of: Mailstack_Ipc_LocalResult?.self) { group in
            group.addTask { await ipc.run(); return nil }
            defer { group.cancelAll() }
            let body = AsyncStream<ByteBuffer> { $0.yield(ByteBuffer(bytes: sampleMessage)); $0.finish() }
            return try await LocalDeliveryClient(ipc).deliver(job, body: body)
        }
    }

    /// The same request from another user: the frames (hello, local.deliver, the message as one
    /// chunk) are encoded here and carried by a small relay run with setpriv as `uid`, which
    /// returns, in hexadecimal, the first two frames the server sends (its hello, then the answer).
    func deliver(as uid: UInt32, _ fixture: LocalFixture, _ job: Mailstack_Ipc_LocalDeliver) async throws -> IPCEnvelope? {
        var frames = try IPCCodec.encodeFrame(IPCEnvelope(id: 0, body: .hello(service: "queue", maxFrame: IPCLimits.defaultMaxFrame)))
        var request = try IPCCodec.encodeFrame(IPCEnvelope(id: 1, body: .localDeliver(job), streamFollows: true))
        var chunk = try IPCCodec.encodeFrame(IPCEnvelope(id: 1, body: .chunk(.with { $0.data = Data(sampleMessage); $0.last = true })))
        frames.writeBuffer(&request)
        frames.writeBuffer(&chunk)
        let relay = """
        import socket, struct, sys
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sys.argv[1])
        s.sendall(sys.stdin.buffer.read())
        def exactly(n):
            data = b""
            while len(data) < n:
                part = s.recv(n - len(data))
                if not part:
                    return None
                data += part
            return data
        for _ in range(2):
            head = exactly(4)
            if head is None:
                break
            body = exactly(struct.unpack(">I", head)[0])
            if body is None:
                break
            sys.stdout.write((head + body).hex())
        """
        let result = try await TestSupport.runAsync(
            ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "/usr/bin/python3", "-c", relay,
             fixture.dir + "/local-delivery.sock"], input: Array(frames.readableBytesView))
        let hex = Array(result.stdout.utf8)
        var replies = ByteBuffer(bytes: stride(from: 0, to: hex.count - 1, by: 2).compactMap { UInt8(String(decoding: hex[$0...$0 + 1], as: UTF8.self), radix: 16) })
        let parser = IPCFrameParser()
        var last: IPCEnvelope?
        while let payload = try parser.nextFrame(from: &replies) { last = try IPCCodec.decode(payload) }
        return last
    }

    @Test("local.deliver through the binary: the program gets the message, the queue gets 250, the log says so")
    func roundTrip() async throws {
        let fixture = try LocalFixture()
        try fixture.probe()
        let daemon = try await start(fixture)
        let result = try await deliver(fixture, request(fixture, out: "ipc.json"))
        #expect(result.code == 250 && result.enhanced == "2.0.0" && result.text == "Sent", "\(result)")
        #expect(try fixture.report("ipc.json")["stdin"] as? String == String(decoding: MboxFormat.unixLines(sampleMessage), as: UTF8.self))
        var refused = request(fixture, out: "never.json")
        refused.target = "/usr/bin/probe x; reboot"
        let smrsh = try await deliver(fixture, refused)
        #expect(smrsh.code == 554 && smrsh.enhanced == "5.0.0" && smrsh.text.hasPrefix("smrsh: cannot use \";\""), "\(smrsh)")
        #expect(try await daemon.stop() == 0)
        #expect(daemon.stderr.contains("q7: to=\"|/usr/bin/probe \(fixture.out)/ipc.json\", pid="), "\(daemon.stderr)")
        #expect(daemon.stderr.contains("ctladdr=<info@domain1.com>, alias=info, xdelay=00:00:0"))
        #expect(daemon.stderr.contains("mailer=prog, dsn=2.0.0, stat=Sent"))
        #expect(daemon.stderr.contains("mailer=prog, dsn=5.0.0, stat=smrsh: cannot use"))
    }

    @Test("only the queue's user may send local.deliver: another uid is refused and nothing runs; named in ipc.service_users, it may",
          .enabled(if: getuid() == 0, "runs a client as another user"))
    func peerPolicy() async throws {
        let fixture = try LocalFixture()
        try fixture.probe()
        var daemon = try await start(fixture)
        let refused = try #require(try await deliver(as: 65534, fixture, request(fixture, out: "nobody.json")))
        guard case let .error(error) = refused.body else { Issue.record("expected an error, got \(refused.typeName)"); return }
        #expect(error.code == .permissionDenied && error.message == "local.deliver is not allowed to this peer", "\(error)")
        #expect(!FileManager.default.fileExists(atPath: fixture.out + "/nobody.json"), "nothing ran")
        _ = try await daemon.stop()
        #expect(daemon.stderr.contains("ipc local.deliver refused: "), "\(daemon.stderr)")

        daemon = try await start(fixture, ["--set", "ipc.service_users=queue=65534"])
        let allowed = try #require(try await deliver(as: 65534, fixture, request(fixture, out: "queue.json")))
        guard case let .localResult(result) = allowed.body else { Issue.record("expected a result, got \(allowed.typeName)"); return }
        #expect(result.code == 250, "\(result)")
        #expect(FileManager.default.fileExists(atPath: fixture.out + "/queue.json"))
        _ = try await daemon.stop()
    }
}
