import Foundation
import Maildir
import POP3Service
import Users
import Testing
import TestSupport

/// Scripted POP3 conversations against the server over TCP.
// Serialized: several tests measure delays and timeouts; crypt(3) keeps both cores busy.
@Suite("POP3 conversations", .serialized)
struct POP3ConversationTests {
    @Test("greeting with an APOP timestamp and no software name; commands before login refused")
    func authorizationState() async throws {
        try await POP3Fixture.make().run { f in
            let c = try LineClient(port: f.port)
            let greeting = try await c.line()
            #expect(greeting.range(of: #"^\+OK ready <\d+\.\d+\.\d+@host\.domain\.com>$"#, options: .regularExpression) != nil)
            #expect(try await c.command("STAT") == "-ERR Not allowed before login")
            #expect(try await c.command("PASS x") == "-ERR Send USER first")
            #expect(try await c.command("HELO") == "-ERR Unknown command HELO")
            #expect(try await c.command("CAPA") == "+OK Capability list follows")
            #expect(try await c.body() == ["TOP", "UIDL", "USER", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER", "SASL PLAIN"])
            #expect(try await c.command("QUIT") == "+OK Bye")
            #expect(try await c.isClosed())
        }
    }

    @Test("USER/PASS login, STAT, LIST, UIDL, RETR with exact bytes, TOP; the client's address goes to drac")
    func transaction() async throws {
        try await POP3Fixture.make().run { f in
            try f.deliver("you", "From: a@b\nSubject: one\n\nfirst\n.dotted\n")
            try f.deliver("you", "Subject: two\n\nsecond\n")
            let c = try LineClient(port: f.port)
            _ = try await c.line()
            #expect(try await c.command("USER you") == "+OK Send your password")
            #expect(try await c.command("PASS secret1") == "+OK 2 messages (67 octets)")
            #expect(f.registered.withLock { $0 } == ["127.0.0.1"])
            #expect(try await c.command("STAT") == "+OK 2 67")
            #expect(try await c.command("LIST") == "+OK 2 messages")
            #expect(try await c.body() == ["1 43", "2 24"])
            #expect(try await c.command("LIST 2") == "+OK 2 24")
            #expect(try await c.command("LIST 3") == "-ERR No such message")
            #expect(try await c.command("UIDL") == "+OK")
            let uidls = try await c.body()
            #expect(uidls.count == 2 && uidls[0].hasPrefix("1 ") && uidls[1].hasPrefix("2 "))
            #expect(try await c.command("RETR 1") == "+OK 43 octets")
            #expect(try await c.rawBody() == Array("From: a@b\r\nSubject: one\r\n\r\nfirst\r\n..dotted\r\n.\r\n".utf8))
            #expect(try await c.command("TOP 2 0") == "+OK")
            #expect(try await c.body() == ["Subject: two", ""])
            #expect(try await c.command("USER you") == "-ERR Already logged in")
            #expect(try await c.command("QUIT") == "+OK Bye")
        }
    }

    @Test("deletions apply at QUIT only; RSET undoes them; a dropped connection deletes nothing")
    func deletions() async throws {
        try await POP3Fixture.make().run { f in
            for i in 1...3 { try f.deliver("you", "Subject: \(i)\n\nbody\n") }
            var c = try await f.login("you")
            #expect(try await c.command("DELE 1") == "+OK Message 1 deleted")
            #expect(try await c.command("DELE 1") == "-ERR No such message")
            #expect(try await c.command("RETR 1") == "-ERR No such message")
            #expect(try await c.command("STAT").hasPrefix("+OK 2 "))
            #expect(try await c.command("RSET") == "+OK 3 messages")
            #expect(try await c.command("DELE 2") == "+OK Message 2 deleted")
            // The first connection is dropped without QUIT; once the server has seen it go (the
            // lock is released), nothing was deleted. Until then a new login is refused
            // ([IN-USE], or the per-address session cap while the retries' own closed
            // connections are still being noticed): retry.
            var relogin = ""
            for _ in 0..<50 {
                c = try LineClient(port: f.port)
                _ = try await c.line()
                _ = try await c.command("USER you")
                relogin = try await c.command("PASS secret1")
                if relogin.hasPrefix("+OK") { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(relogin.hasPrefix("+OK 3 messages"))
            _ = try await c.command("UIDL")
            let uidlsBefore = try await c.body()
            try #require(uidlsBefore.count == 3)
            #expect(try await c.command("DELE 2") == "+OK Message 2 deleted")
            #expect(try await c.command("QUIT") == "+OK Bye")
            let after = try await f.login("you")
            #expect(try await after.command("STAT").hasPrefix("+OK 2 "))
            _ = try await after.command("UIDL")
            let uidlsAfter = try await after.body().map { $0.split(separator: " ")[1] }
            try #require(uidlsAfter.count == 2)
            #expect(uidlsAfter == [uidlsBefore[0], uidlsBefore[2]].map { $0.split(separator: " ")[1] }, "UIDLs are stable")
        }
    }

    @Test("one session per mailbox: a second login gets [IN-USE]")
    func locking() async throws {
        try await POP3Fixture.make().run { f in
            let first = try await f.login("you")
            let second = try LineClient(port: f.port)
            _ = try await second.line()
            _ = try await second.command("USER you")
            #expect(try await second.command("PASS secret1") == "-ERR [IN-USE] Mailbox is locked by another session")
            #expect(try await first.command("QUIT") == "+OK Bye")
            _ = try await second.command("USER you")
            #expect(try await second.command("PASS secret1").hasPrefix("+OK"))
        }
    }

    @Test("failed logins are delayed, never say whether the user exists, and are throttled")
    func failures() async throws {
        try await POP3Fixture.make(failureDelay: .milliseconds(300), maxFailures: 3).run { f in
            let c = try LineClient(port: f.port)
            _ = try await c.line()
            for user in ["you", "nosuchuser"] {
                #expect(try await c.command("USER \(user)") == "+OK Send your password")
                let start = ContinuousClock.now
                #expect(try await c.command("PASS wrong") == "-ERR [AUTH] Authentication failed")
                #expect(ContinuousClock.now - start >= .milliseconds(300))
            }
            _ = try await c.command("USER you")
            _ = try await c.command("PASS wrong")
            _ = try await c.command("USER you")
            #expect(try await c.command("PASS secret1") == "-ERR [AUTH] Too many failed logins; try again later",
                    "even the right password is refused while throttled")
            #expect(f.registered.withLock { $0 }.isEmpty)
        }
    }

    @Test("APOP for users with a plaintext secret only")
    func apop() async throws {
        try await POP3Fixture.make().run { f in
            let c = try LineClient(port: f.port)
            let greeting = try await c.line()
            let timestamp = String(greeting[greeting.firstIndex(of: "<")!...])
            let digest = md5Hex(timestamp + "apopsecret")
            #expect(try await c.command("APOP user2 \(digest)") == "+OK 0 messages (0 octets)")
            let d = try LineClient(port: f.port)
            let greeting2 = try await d.line()
            let timestamp2 = String(greeting2[greeting2.firstIndex(of: "<")!...])
            #expect(try await d.command("APOP you \(md5Hex(timestamp2 + "secret1"))") == "-ERR [AUTH] Authentication failed")
            #expect(try await d.command("APOP user2 \(digest)") == "-ERR [AUTH] Authentication failed", "a digest is good for one banner only")
        }
    }

    @Test("AUTH PLAIN with an initial response and with a continuation")
    func authPlain() async throws {
        try await POP3Fixture.make().run { f in
            let c = try LineClient(port: f.port)
            _ = try await c.line()
            let token = Data("\0user4\0bcrypt pass".utf8).base64EncodedString()
            #expect(try await c.command("AUTH PLAIN \(token)") == "+OK 0 messages (0 octets)")
            let d = try LineClient(port: f.port)
            _ = try await d.line()
            #expect(try await d.command("AUTH PLAIN") == "+ ")
            #expect(try await d.command(Data("\0you\0secret1".utf8).base64EncodedString()) == "+OK 0 messages (0 octets)")
            let e = try LineClient(port: f.port)
            _ = try await e.line()
            #expect(try await e.command("AUTH PLAIN") == "+ ")
            #expect(try await e.command("*") == "-ERR Authentication cancelled")
        }
    }

    @Test("pipelined commands are answered in order")
    func pipelining() async throws {
        try await POP3Fixture.make().run { f in
            try f.deliver("you", "Subject: p\n\nx\n")
            let c = try LineClient(port: f.port)
            _ = try await c.line()
            c.send("USER you\r\nPASS secret1\r\nSTAT\r\nLIST 1\r\nNOOP\r\nQUIT\r\n")
            var replies: [String] = []
            for _ in 0..<6 { replies.append(try await c.line()) }
            #expect(replies == ["+OK Send your password", "+OK 1 messages (17 octets)", "+OK 1 17", "+OK 1 17", "+OK", "+OK Bye"])
        }
    }

    @Test("a drac-registry failure does not fail the login")
    func dracDown() async throws {
        try await POP3Fixture.make(dracFails: true).run { f in
            let c = try await f.login("you")
            #expect(try await c.command("NOOP") == "+OK")
        }
    }

    @Test("sessions per client address are capped; a closed session frees its place")
    func sessionCap() async throws {
        try await POP3Fixture.make().run { f in
            var open: [LineClient] = []
            for _ in 0..<5 {
                let c = try LineClient(port: f.port)
                #expect(try await c.line().hasPrefix("+OK ready"))
                open.append(c)
            }
            let refused = try LineClient(port: f.port)
            #expect(try await refused.line() == "-ERR [SYS/TEMP] Too many sessions; try again later")
            #expect(try await refused.isClosed())
            #expect(try await open[0].command("QUIT") == "+OK Bye")
            try await Task.sleep(for: .milliseconds(100))
            let again = try LineClient(port: f.port)
            #expect(try await again.line().hasPrefix("+OK ready"))
        }
    }

    @Test("limits: a line over 255 octets, too many bad commands, the idle timeout")
    func limits() async throws {
        // The line and command limits under an idle timeout no loaded machine reaches between two
        // commands (with 2 s, the full parallel suite once timed a client out mid-way).
        try await POP3Fixture.make(idle: .seconds(120)).run { f in
            let c = try LineClient(port: f.port)
            _ = try await c.line()
            #expect(try await c.command("USER " + String(repeating: "x", count: 300)) == "-ERR Line too long")
            #expect(try await c.command("NOOP") == "-ERR Not allowed before login", "the connection goes on after a long line")
            var last = ""
            for _ in 0..<25 { last = try await c.command("BOGUS"); if last.hasPrefix("-ERR Too many") { break } }
            #expect(last == "-ERR Too many bad commands; closing connection")
            #expect(try await c.isClosed())
        }
        try await POP3Fixture.make(idle: .seconds(2)).run { f in
            // Measured from before the connection exists: the server's idle clock cannot start
            // earlier, so the bound holds however loaded the machine is.
            let start = ContinuousClock.now
            let idle = try LineClient(port: f.port)
            _ = try await idle.line()
            #expect(try await idle.line() == "-ERR Idle timeout; closing connection")
            #expect(try await idle.isClosed())
            #expect(ContinuousClock.now - start >= .seconds(2))
        }
    }
}

func md5Hex(_ text: String) -> String {
    let result = try! TestSupport.run(["/usr/bin/md5sum"], input: Array(text.utf8))
    return String(result.stdout.prefix(32))
}
