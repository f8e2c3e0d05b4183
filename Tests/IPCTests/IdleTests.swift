import Foundation
import IPC
import IPCTransport
import Listeners
import NIOCore
import Testing

/// Services systemd starts on demand (ipc.max_idle) and the clients that let them stop
/// (ipc.idle_close). The whole stop and restart of a daemon is in SystemdGlueTests.idleStop
/// and, under a real systemd, the system test.
@Suite("on demand: idle connections and idle services", .serialized)
struct IdleTests {
    @Test("the tracker says idle only after max_idle with no connection open, and refuses connections from then on")
    func tracker() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
        let tracker = IdleTracker(maxIdle: .seconds(10), now: start)
        #expect(tracker.decide(now: start + .seconds(9)) == .quietUntil(start + .seconds(10)))
        #expect(tracker.opened())
        #expect(tracker.opened())
        #expect(tracker.decide(now: start + .seconds(30)) == .busy)
        tracker.closed(now: start + .seconds(31))
        #expect(tracker.decide(now: start + .seconds(60)) == .busy, "one is still open")
        tracker.closed(now: start + .seconds(61))
        #expect(tracker.decide(now: start + .seconds(70)) == .quietUntil(start + .seconds(71)))
        #expect(tracker.decide(now: start + .seconds(71)) == .idle)
        #expect(!tracker.opened(), "stopping: a connection accepted now is refused")
        #expect(tracker.decide(now: start + .seconds(72)) == .idle)
    }

    @Test("the quiet time counts from when the service starts waiting, not from when its listener was made")
    func quietFromStart() async throws {
        // Made long before (a slow start): the service must still get max_idle to accept the
        // connection systemd started it for.
        let tracker = IdleTracker(maxIdle: .milliseconds(200), now: .now() - .seconds(10))
        let start = ContinuousClock.now
        try await tracker.waitUntilIdle()
        #expect(ContinuousClock.now - start >= .milliseconds(200))
    }

    /// Waits (up to 10 s) until `condition` holds.
    func eventually(_ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else { return false }
            try await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    func ping(_ text: String) -> IPCBody {
        var ping = Mailstack_Ipc_Ping()
        ping.payload = Data(text.utf8)
        return .ping(ping)
    }

    func isQuiet(_ tracker: IdleTracker) -> Bool {
        if case .quietUntil = tracker.decide() { return true }
        return false
    }

    @Test("a client closes a connection no request has used for ipc.idle_close, and makes a new one for the next request")
    func clientIdleClose() async throws {
        let path = temporarySocketPath("idle")
        let tracker = IdleTracker(maxIdle: .hours(1))
        let server = try await IPCServer.bind(.path(path), configuration: .init(service: "test"), logger: testLogger, idle: tracker)
        defer { unlink(path) }
        let client = IPCClient(configuration: .init(path: path, service: "test", clientName: "tester", idleClose: .milliseconds(300)),
                               logger: testLogger)
        try await withThrowingTaskGroup(of: Void.self) { group throws -> Void in
            group.addTask { try await server.serve(EchoPeerHandler()) }
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            // Events only, no moment is assumed (on a loaded machine 300 ms can pass between
            // any two lines here): the connection closes by itself, the next request is
            // answered over a new one (the old one is gone), which closes by itself too.
            let one = try await client.request(ping("one"))
            #expect(TransportTests.payload(one) == "one")
            let quiet = try await eventually { isQuiet(tracker) && !client.isConnected }
            #expect(quiet, "the client closed its idle connection")
            let two = try await client.request(ping("two"))
            #expect(TransportTests.payload(two) == "two")
            let quietAgain = try await eventually { isQuiet(tracker) && !client.isConnected }
            #expect(quietAgain, "the new connection closed when idle too")
        }
    }

    @Test("a connection closed before the service's hello (a service stopping) is made again at once; the request waiting for it is answered")
    func closedBeforeHello() async throws {
        let path = temporarySocketPath("hello")
        let listener = try RawListener(path: path)
        let client = IPCClient(configuration: .init(path: path, service: "test", clientName: "tester"), logger: testLogger)
        try await withThrowingTaskGroup(of: Void.self) { group throws -> Void in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            async let reply = client.request(ping("after"))
            // The stopping service: accepts and closes without a word.
            let first = try await listener.accept()
            shutdown(first.fd, Int32(SHUT_RDWR))
            // The next start, on the same socket (as systemd passes it): the client's second
            // connection waits in its backlog until then.
            let server = try await IPCServer.bind(.inherited(fd: dup(listener.fd), name: "test"),
                                                  configuration: .init(service: "test"), logger: testLogger)
            group.addTask { try await server.serve(EchoPeerHandler()) }
            let answered = try await reply
            #expect(TransportTests.payload(answered) == "after")
        }
    }
}
