import IPC
@testable import SMTPInService
import Synchronization
import Testing
import TestSupport

/// relay-policy's verdicts held by smtp-in (`PolicyMemory`): what is reused, for how long, and
/// what makes it forget.
@Suite("smtp-in policy memory", .serialized)
struct PolicyMemoryTests {
    final class Clock: Sendable {
        let start = ContinuousClock.now
        let offset = Mutex<Duration>(.zero)
        func advance(_ by: Duration) { offset.withLock { $0 += by } }
        var now: ContinuousClock.Instant { start + offset.withLock { $0 } }
    }

    static func verdict(_ action: Mailstack_Ipc_PolicyVerdict.Action = .accept, epoch: UInt64 = 7, generation: Int64 = 1,
                        reuseMs: UInt32 = 1000) -> Mailstack_Ipc_PolicyVerdict {
        .with {
            $0.action = action
            if action == .reject { $0.reply = .with { $0.code = 550; $0.enhanced = "5.7.1"; $0.text = "Access denied" } }
            $0.mapsEpoch = epoch
            $0.mapsGeneration = generation
            $0.reuseMs = reuseMs
        }
    }

    static let client = Mailstack_Ipc_PolicyClient.with { $0.address = "192.0.2.1"; $0.resolve = .ok; $0.name = "a.test" }

    @Test("a RCPT verdict is held for the recipient and the client's address and relay flags, not its name")
    func recipients() {
        let memory = PolicyMemory()
        memory.learn(recipient: "you@domain1.com", client: Self.client, Self.verdict())
        #expect(memory.recipient("you@domain1.com", client: Self.client) != nil)
        var renamed = Self.client
        renamed.name = "b.test"
        #expect(memory.recipient("you@domain1.com", client: renamed) != nil)
        for change in [{ (c: inout Mailstack_Ipc_PolicyClient) in c.address = "192.0.2.2" }, { $0.relayByAccess = true }, { $0.authenticated = true }] {
            var other = Self.client
            change(&other)
            #expect(memory.recipient("you@domain1.com", client: other) == nil)
        }
        #expect(memory.recipient("them@domain1.com", client: Self.client) == nil)
    }

    @Test("a verdict is held for the time relay-policy gave, not a moment longer")
    func expiry() {
        let clock = Clock()
        let memory = PolicyMemory(now: { clock.now })
        memory.learn(client: "192.0.2.1", Self.verdict(.relay))
        memory.learn(sender: "a@b.test", size: 0, Self.verdict(.reject))
        clock.advance(.milliseconds(999))
        #expect(memory.client("192.0.2.1")?.action == .relay)
        #expect(memory.sender("a@b.test", size: 0)?.action == .reject)
        clock.advance(.milliseconds(1))
        #expect(memory.client("192.0.2.1") == nil)
        #expect(memory.sender("a@b.test", size: 0) == nil)
    }

    @Test("not held: connect refusals and discards, reuse 0, a relay-policy that does not stamp its verdicts")
    func notHeld() {
        let memory = PolicyMemory()
        memory.learn(client: "192.0.2.1", Self.verdict(.reject))
        memory.learn(client: "192.0.2.2", Self.verdict(.discard))
        memory.learn(client: "192.0.2.3", Self.verdict(.accept, reuseMs: 0))
        memory.learn(client: "192.0.2.4", Self.verdict(.accept, epoch: 0))
        memory.learn(sender: "a@b.test", size: 0, Self.verdict(.accept, reuseMs: 0))
        for address in ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"] { #expect(memory.client(address) == nil) }
        #expect(memory.sender("a@b.test", size: 0) == nil)
    }

    @Test("a verdict from a newer generation or another epoch forgets everything; one from an older generation is not kept")
    func generations() {
        let memory = PolicyMemory()
        memory.learn(client: "192.0.2.1", Self.verdict(generation: 1))
        memory.learn(sender: "a@b.test", size: 0, Self.verdict(generation: 1))
        memory.learn(recipient: "x@y.test", client: Self.client, Self.verdict(generation: 1, reuseMs: 0)) // a RCPT of the same maps
        #expect(memory.client("192.0.2.1") != nil)
        memory.learn(recipient: "x@y.test", client: Self.client, Self.verdict(generation: 2, reuseMs: 0)) // a RCPT after the map changed
        #expect(memory.client("192.0.2.1") == nil)
        #expect(memory.sender("a@b.test", size: 0) == nil)

        memory.learn(sender: "a@b.test", size: 0, Self.verdict(generation: 2))
        memory.learn(sender: "old@b.test", size: 0, Self.verdict(generation: 1)) // crossed with the change
        #expect(memory.sender("old@b.test", size: 0) == nil)
        #expect(memory.sender("a@b.test", size: 0) != nil)
        memory.learn(recipient: "x@y.test", client: Self.client, Self.verdict(epoch: 8, generation: 1, reuseMs: 0)) // relay-policy restarted
        #expect(memory.sender("a@b.test", size: 0) == nil)
    }

    @Test("a MAIL verdict covers SIZE= up to the largest it was given for")
    func size() {
        let memory = PolicyMemory()
        memory.learn(sender: "a@b.test", size: 100, Self.verdict())
        #expect(memory.sender("a@b.test", size: 0) != nil)
        #expect(memory.sender("a@b.test", size: 100) != nil)
        #expect(memory.sender("a@b.test", size: 101) == nil)
        memory.learn(sender: "a@b.test", size: 500, Self.verdict())
        memory.learn(sender: "a@b.test", size: 50, Self.verdict())
        #expect(memory.sender("a@b.test", size: 500) != nil)
    }

    @Test("at most maxHeld of each kind: a client inventing senders only displaces what is held")
    func bounded() {
        let memory = PolicyMemory()
        for i in 0...PolicyMemory.maxHeld { memory.learn(sender: "s\(i)@b.test", size: 0, Self.verdict()) }
        let held = memory.state.withLock { $0.senders.count }
        #expect(held >= 1 && held <= PolicyMemory.maxHeld)
        #expect(memory.sender("s\(PolicyMemory.maxHeld)@b.test", size: 0) != nil)
    }

    // MARK: in sessions

    /// One whole transaction from `source`; the replies to MAIL and RCPT.
    static func message(_ smtp: SMTPHarness, from source: String, sender: String, size: Int? = nil) async throws -> [String] {
        let c = try SMTPTestClient(port: smtp.port, from: source)
        _ = try await c.reply()
        _ = try await c.command("EHLO client.test")
        let mail = try await c.command("MAIL FROM:<\(sender)>" + (size.map { " SIZE=\($0)" } ?? ""))
        let rcpt = try await c.command("RCPT TO:<you@domain1.com>")
        _ = try await c.command("QUIT")
        return [mail, rcpt]
    }

    @Test("sessions: connect and MAIL verdicts reused, refused clients asked every time, forgotten when relay-policy's maps change")
    func sessions() async throws {
        let smtp = try await SMTPHarness()
        smtp.stamp.withLock { $0 = (epoch: 7, generation: 1, reuseMs: 60_000) }
        let asked = { (smtp.connectQuestions.withLock { $0 }, smtp.mailQuestions.withLock { $0 }) }
        #expect(try await Self.message(smtp, from: "127.0.0.2", sender: "a@b.test")[0] == "250 2.1.0 <a@b.test>... Sender ok")
        #expect(try await Self.message(smtp, from: "127.0.0.2", sender: "a@b.test") == [
            "250 2.1.0 <a@b.test>... Sender ok", "250 2.1.5 <you@domain1.com>... Recipient ok",
        ])
        #expect(asked() == (1, 1))
        // A refused sender is refused from memory too; a larger SIZE= is asked.
        for _ in 0..<2 {
            #expect(try await Self.message(smtp, from: "127.0.0.2", sender: "blocked@spam.test")[0] == "550 5.7.1 <blocked@spam.test>... Access denied")
        }
        #expect(asked() == (1, 2))
        _ = try await Self.message(smtp, from: "127.0.0.2", sender: "a@b.test", size: 100)
        _ = try await Self.message(smtp, from: "127.0.0.2", sender: "a@b.test", size: 10)
        #expect(asked() == (1, 3))
        // A client refused at connect is asked each time (relay-policy logs each refusal).
        for _ in 0..<2 {
            #expect(try await Self.message(smtp, from: "127.0.0.5", sender: "a@b.test")[0] == "550 5.7.1 Access denied")
        }
        #expect(asked() == (3, 3))
        // The maps changed: the next answer says so (here to another client's connection), and
        // everything held is forgotten. (With no answer at all, what is held lasts till it expires.)
        smtp.stamp.withLock { $0 = (epoch: 7, generation: 2, reuseMs: 60_000) }
        _ = try await Self.message(smtp, from: "127.0.0.2", sender: "a@b.test")
        #expect(asked() == (3, 3))
        _ = try await Self.message(smtp, from: "127.0.0.4", sender: "a@b.test") // its connect answer forgets all
        #expect(asked() == (4, 4))
        _ = try await Self.message(smtp, from: "127.0.0.2", sender: "a@b.test")
        #expect(asked() == (5, 4))
        // An answer that does not say which maps it came from changes nothing.
        smtp.stamp.withLock { $0 = nil }
        _ = try await Self.message(smtp, from: "127.0.0.4", sender: "c@b.test")
        _ = try await Self.message(smtp, from: "127.0.0.2", sender: "a@b.test")
        #expect(asked() == (5, 5))
        // relay-policy restarted (another epoch) and allows no reuse: forgotten, then asked every time.
        smtp.stamp.withLock { $0 = (epoch: 9, generation: 1, reuseMs: 0) }
        _ = try await Self.message(smtp, from: "127.0.0.4", sender: "c@b.test")
        _ = try await Self.message(smtp, from: "127.0.0.2", sender: "a@b.test")
        _ = try await Self.message(smtp, from: "127.0.0.2", sender: "a@b.test")
        #expect(asked() == (7, 8))
    }

    @Test("sessions: a local recipient's RCPT verdict is reused for the same client, pipelined ones too; a refusal to relay is asked every time")
    func sessionRecipients() async throws {
        let smtp = try await SMTPHarness()
        smtp.stamp.withLock { $0 = (epoch: 7, generation: 1, reuseMs: 60_000) }
        let asked = { smtp.rcptQuestions.withLock { $0 } }
        for _ in 0..<2 { #expect(try await Self.message(smtp, from: "127.0.0.2", sender: "a@b.test")[1] == "250 2.1.5 <you@domain1.com>... Recipient ok") }
        #expect(asked() == 1)
        _ = try await Self.message(smtp, from: "127.0.0.4", sender: "a@b.test") // another client: asked
        #expect(asked() == 2)

        let c = try SMTPTestClient(port: smtp.port, from: "127.0.0.2")
        _ = try await c.reply()
        _ = try await c.command("EHLO client.test")
        for _ in 0..<2 {
            #expect(try await c.command("MAIL FROM:<a@b.test>") == "250 2.1.0 <a@b.test>... Sender ok")
            #expect(try await c.command("RCPT TO:<friend@remote.test>") == "550 5.7.1 <friend@remote.test>... Relaying denied")
            #expect(try await c.command("RSET") == "250 2.0.0 Reset state")
        }
        #expect(asked() == 4)
        // A pipelined group: the held recipient is not asked again; the new one is, once.
        c.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<you@domain1.com>\r\nRCPT TO:<user2@domain1.com>\r\nRSET\r\n")
        for _ in 0..<4 { _ = try await c.reply() }
        #expect(asked() == 5)
        _ = try await c.command("QUIT")
    }
}
