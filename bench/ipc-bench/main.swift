// ipc-bench: round trips per second and MB/s of streamed bodies over one IPC socket.
// Not a test: it prints figures. By default it serves pings in this process; with --socket it
// drives an external server (for example sd-probe) so both ends are separate processes.

import ArgumentParser
import Foundation
import IPC
import IPCTransport
import Logging
import NIOCore
import NIOPosix

struct PingOnly: IPCRequestHandler {
    func handle(_ request: IPCRequest, stream: IPCBodyStream?) async throws -> IPCBody {
        throw IPCHandlerError(.unknownType, "ping only")
    }
}

@main
struct IPCBench: AsyncParsableCommand {
    @Option(help: "Socket of an external server answering pings (its service name with --service).") var socket: String?
    @Option(help: "Service name the external server announces.") var service = "sd-probe"
    @Option(help: "Round trips per measurement.") var requests = 50_000
    @Option(help: "Requests in flight at once for the pipelined measurement.") var concurrency = 64
    @Option(help: "Size of one streamed body, in MB.") var bodyMB = 8
    @Option(help: "Streamed bodies to send.") var bodies = 16
    @Flag(help: "Measure drac-registry lookups instead of pings (with --socket and --service drac-registry).")
    var dracLookup = false
    @Option(help: "The client address of --drac-lookup and --policy-rcpt.") var address = "192.0.2.1"
    @Option(help: "Measure relay-policy RCPT decisions for this recipient (with --socket and --service relay-policy).")
    var policyRcpt: String?

    func run() async throws {
        // As the services' clients do (Daemon.runTasksOnEventLoops): Swift tasks on NIO's event
        // loops, so a reply resumes its request on the thread that read it instead of waking a
        // thread of Swift's pool, which then wakes the event loop again to write the next request.
        // MAILSTACK_CONCURRENCY_POOL=1 keeps Swift's own pool (to compare).
        if ProcessInfo.processInfo.environment["MAILSTACK_CONCURRENCY_POOL"] != "1" {
            _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
        let logger = Logger(label: "ipc-bench")
        let path = socket ?? NSTemporaryDirectory() + "ipc-bench-\(getpid()).sock"
        let name = socket == nil ? "bench" : service
        var server: IPCServer?
        if socket == nil {
            server = try await IPCServer.bind(.path(path), configuration: .init(service: name), logger: logger)
        }
        let client = IPCClient(configuration: .init(path: path, service: name, clientName: "ipc-bench"), logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            if let server { group.addTask { try await server.serve(PingOnly()) } }
            group.addTask { await client.run() }
            try await measure(client)
            group.cancelAll()
        }
        if socket == nil { unlink(path) }
    }

    func measure(_ client: IPCClient) async throws {
        var ping = dracLookup ? IPCBody.dracLookup(.with { $0.address = address }) : IPCBody.ping(Mailstack_Ipc_Ping())
        if let policyRcpt {
            ping = .policyRcpt(.with {
                $0.recipient = policyRcpt
                $0.client = .with { $0.address = address; $0.resolve = .ok; $0.name = "client.example.test" }
            })
        }
        for _ in 0..<1000 { _ = try await client.request(ping) } // warm up, connect

        var start = ContinuousClock.now
        var latencies: [Duration] = []
        latencies.reserveCapacity(requests)
        for _ in 0..<requests {
            let one = ContinuousClock.now
            _ = try await client.request(ping)
            latencies.append(ContinuousClock.now - one)
        }
        report("sequential round trips", count: requests, elapsed: ContinuousClock.now - start, unit: "req/s")
        latencies.sort()
        print(pad("  latency p50 / p99") + "\(micros(latencies[latencies.count / 2])) / \(micros(latencies[latencies.count * 99 / 100])) µs")

        start = ContinuousClock.now
        let perTask = requests / concurrency
        let request = ping
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask { for _ in 0..<perTask { _ = try await client.request(request) } }
            }
            try await group.waitForAll()
        }
        report("pipelined round trips (\(concurrency) in flight)", count: perTask * concurrency,
               elapsed: ContinuousClock.now - start, unit: "req/s")

        if dracLookup || policyRcpt != nil { return }
        let chunk = ByteBuffer(repeating: 0x61, count: 64 * 1024)
        let chunksPerBody = bodyMB * 16
        start = ContinuousClock.now
        var total: UInt64 = 0
        for _ in 0..<bodies {
            let body = AsyncStream<ByteBuffer> { continuation in
                for _ in 0..<chunksPerBody { continuation.yield(chunk) }
                continuation.finish()
            }
            guard case let .pong(pong) = try await client.request(ping, streaming: body) else { fatalError("no pong") }
            total += pong.streamBytes
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(pad("streamed bodies") + String(format: "%10.1f MB/s  (%d bodies of %d MB)", Double(total) / 1e6 / seconds, bodies, bodyMB))
    }

    func micros(_ d: Duration) -> Int { Int(d.components.seconds * 1_000_000 + d.components.attoseconds / 1_000_000_000_000) }

    func pad(_ text: String) -> String { text.padding(toLength: 44, withPad: " ", startingAt: 0) }

    func report(_ what: String, count: Int, elapsed: Duration, unit: String) {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(pad(what) + String(format: "%10.0f %@  (%.1f µs each)", Double(count) / seconds, unit as NSString,
                                 seconds * 1e6 / Double(count)))
    }
}
