import Foundation
import Listeners
import NIOCore
import NIOEmbedded
import POP3Service
import Testing
import TestSupport
import Users

/// What a hostile POP3 client can try: commands injected behind STLS, connections held open
/// by trickled octets or by not reading, password guessing across accounts.
@Suite("pop3 hardening", .serialized)
struct POP3HardeningTests {
    /// What the decoder hands the session for `input`, with an STLS gate.
    func decode(_ input: String) throws -> (lines: [POP3Line], gateClosed: Bool) {
        let gate = POP3TLSGate()
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(POP3LineDecoder(gate: gate)))
        try channel.writeInbound(ByteBuffer(string: input))
        var lines: [POP3Line] = []
        while let line = try channel.readInbound(as: POP3Line.self) { lines.append(line) }
        _ = try? channel.finish()
        return (lines, gate.isClosed)
    }

    @Test("STLS in any form the session accepts closes the gate: nothing behind it is decoded", arguments: [
        "STLS", "STLS ", "stls", "sTlS  ",
    ])
    func stlsVariants(stls: String) throws {
        #expect(try POP3Command.parse(stls) == .stls)
        let (lines, closed) = try decode(stls + "\r\nUSER user2\r\nPASS apopsecret\r\n")
        #expect(lines == [.line(stls)])
        #expect(closed)
    }

    @Test("a line that is not STLS to the session leaves the gate open", arguments: ["STLS x", "STLSX", "XSTLS"])
    func notStls(line: String) throws {
        let (lines, closed) = try decode(line + "\r\nNOOP\r\n")
        #expect(lines == [.line(line), .line("NOOP")])
        #expect(!closed)
    }

    @Test("a CR inside a line is refused, never handed on as text (found by fuzzing)", arguments: ["STAT\r x", "USER a\rb", "\rSTLS"])
    func bareCR(line: String) throws {
        let (lines, closed) = try decode(line + "\r\nNOOP\r\n")
        #expect(lines == [.bareCR, .line("NOOP")])
        #expect(!closed)
    }

    @Test("a client trickling one octet at a time is closed at the idle timeout: deadlines count whole lines")
    func trickle() async throws {
        try await POP3Fixture.make(idle: .seconds(2)).run { f in
            let c = try LineClient(port: f.port)
            _ = try await c.line()
            let trickler = Task {
                for octet in "NOOPNOOPNOOPNOOPNOOPNOOPNOOPNOOPNOOPNOOP" {
                    c.send(String(octet))
                    try await Task.sleep(for: .milliseconds(250))
                }
            }
            defer { trickler.cancel() }
            #expect(try await c.line() == "-ERR Idle timeout; closing connection")
            #expect(try await c.isClosed())
        }
    }

    @Test("an unauthenticated session is closed at the login timeout even while it sends whole lines")
    func loginTimeout() async throws {
        try await POP3Fixture.make(idle: .seconds(600), loginTimeout: .seconds(1)).run { f in
            let c = try LineClient(port: f.port)
            _ = try await c.line()
            var last = ""
            for _ in 0..<200 {
                c.send("CAPA\r\n")
                last = try await c.line()
                if last.hasPrefix("-ERR") { break }
                _ = try await c.body()
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(last == "-ERR [AUTH] Login timeout; closing connection")
            #expect(try await c.isClosed())
        }
    }

    @Test("a client that asks for messages and never reads them is closed once its writes stay blocked")
    func nonReadingClient() async throws {
        // 5 s, not 1: the same timeout also closes a session whose next command is late, and
        // under the parallel suite this test's own USER was once more than 1 s late.
        try await POP3Fixture.make(idle: .seconds(5)).run { f in
            try f.deliver("you", "Subject: big\r\n\r\n" + String(repeating: String(repeating: "x", count: 998) + "\r\n", count: 4000))
            let c = try LineClient(port: f.port, receiveBuffer: 65536)
            _ = try await c.line()
            #expect(try await c.command("USER you") == "+OK Send your password")
            let login = try await c.command("PASS secret1")
            #expect(login.hasPrefix("+OK"), "\(login)")
            for _ in 0..<10 { c.send("RETR 1\r\n") } // about 40 MB of replies, none read
            // The server closes its end (its FIN waits behind the unread data, so the client
            // cannot see it): the session is over and its slot free.
            try await TestSupport.eventually(timeout: .seconds(60)) { f.environment.sessions.total == 0 }
        }
    }

    @Test("another account's successful login does not reset a client's failures")
    func successDoesNotReset() async throws {
        try await POP3Fixture.make(failureDelay: .milliseconds(10), maxFailures: 3).run { f in
            let c = try LineClient(port: f.port)
            _ = try await c.line()
            for _ in 0..<2 {
                _ = try await c.command("USER user2")
                #expect(try await c.command("PASS wrong") == "-ERR [AUTH] Authentication failed")
            }
            let good = try await f.login("you")
            #expect(try await good.command("QUIT") == "+OK Bye")
            _ = try await c.command("USER user2")
            #expect(try await c.command("PASS wrong") == "-ERR [AUTH] Authentication failed")
            _ = try await c.command("USER user2")
            #expect(try await c.command("PASS apopsecret") == "-ERR [AUTH] Too many failed logins; try again later")
        }
    }
}

@Suite("login guard and client groups")
struct LoginGuardTests {
    final class Clock: @unchecked Sendable {
        let now = Locked(ContinuousClock.now)
        func advance(_ by: Duration) { now.withLock { $0 += by } }
    }

    func guarded(_ clock: Clock, maxFailures: Int = 3, maxUserFailures: Int = 5) -> LoginGuard {
        LoginGuard(limits: .init(maxFailures: maxFailures, maxUserFailures: maxUserFailures, window: .seconds(60), failureDelay: .zero),
                   now: { clock.now.withLock { $0 } })
    }

    @Test("per client: refused after maxFailures, even the right password; free again after the window")
    func perClient() async {
        let clock = Clock()
        let logins = guarded(clock)
        for _ in 0..<3 { #expect(await logins.attempt(user: "a", client: "192.0.2.1", verify: { false }) == .failure) }
        #expect(await logins.attempt(user: "b", client: "192.0.2.1", verify: { true }) == .throttled)
        #expect(await logins.attempt(user: "b", client: "192.0.2.2", verify: { true }) == .success)
        clock.advance(.seconds(61))
        #expect(await logins.attempt(user: "b", client: "192.0.2.1", verify: { true }) == .success)
    }

    @Test("per user: guesses spread over many clients are refused; the user name is not charged while throttled")
    func perUser() async {
        let clock = Clock()
        let logins = guarded(clock, maxFailures: 100, maxUserFailures: 5)
        for i in 0..<5 { #expect(await logins.attempt(user: "you", client: "198.51.100.\(i)", verify: { false }) == .failure) }
        #expect(await logins.attempt(user: "you", client: "203.0.113.9", verify: { true }) == .throttled)
        #expect(await logins.attempt(user: "other", client: "203.0.113.9", verify: { true }) == .success)
        clock.advance(.seconds(61))
        #expect(await logins.attempt(user: "you", client: "203.0.113.9", verify: { true }) == .success)
    }

    @Test("IPv6 clients are counted by /64; IPv4 by address", arguments: [
        ("2001:db8:1:2:a:b:c:d", "2001:db8:1:2::/64"), ("2001:DB8:1:2::1", "2001:db8:1:2::/64"), ("::1", "::/64"),
        ("192.0.2.7", "192.0.2.7"), ("unknown", "unknown"),
    ])
    func groups(address: String, key: String) {
        #expect(ClientGroup.key(for: address) == key)
    }

    @Test("connection caps per client count a whole IPv6 /64")
    func limiterGroups() {
        let limiter = ConnectionLimiter()
        #expect(limiter.open("2001:db8::1", maxTotal: 10, maxPerAddress: 2))
        #expect(limiter.open("2001:db8::2", maxTotal: 10, maxPerAddress: 2))
        #expect(!limiter.open("2001:db8::3", maxTotal: 10, maxPerAddress: 2))
        #expect(limiter.open("2001:db8:0:1::3", maxTotal: 10, maxPerAddress: 2))
        limiter.close("2001:db8::1")
        #expect(limiter.open("2001:db8::ffff", maxTotal: 10, maxPerAddress: 2))
    }

    @Test("SASL PLAIN: authzid empty or the user; bad shapes refused", arguments: [
        ("\0you\0secret", "you"), ("you\0you\0secret", "you"), ("admin\0you\0secret", nil), ("\0\0secret", nil),
        ("\0y\nou\0secret", nil), ("you\0secret", nil),
    ] as [(String, String?)])
    func plain(message: String, user: String?) {
        let encoded = Data(message.utf8).base64EncodedString()
        #expect(SASL.plain(encoded)?.user == user)
    }
}
