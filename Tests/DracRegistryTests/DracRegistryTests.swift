import DracRegistryService
import Foundation
import MailstackMaps
import Testing
import TestSupport

@Suite("drac registry logic")
struct DracRegistryTests {
    /// A clock the test moves.
    final class FakeClock: @unchecked Sendable {
        var now: Int64 = 1_800_000_000
    }

    func address(_ text: String) -> DracAddress { DracAddress(text)! }

    @Test("addresses take one canonical form", arguments: [
        ("192.0.2.7", "192.0.2.7"), ("::ffff:192.0.2.7", "192.0.2.7"), ("IPv6:2001:DB8:0:0:0:0:0:7", "2001:db8::7"),
        ("[2001:db8::7]", "2001:db8::7"), ("::1", "::1"), ("fe80:0:0:0:1:0:0:1", "fe80::1:0:0:1"),
    ])
    func canonical(input: String, expected: String) {
        #expect(DracAddress(input)?.text == expected)
    }

    @Test("non-addresses are refused", arguments: ["", "bogus", "192.0.2", "192.0.2.256", "1.2.3.4.5", "::g", "host.example"])
    func invalid(input: String) {
        #expect(DracAddress(input) == nil)
    }

    @Test("an entry authorizes until its expiry, exactly, with no sweep; a login refreshes it")
    func expiry() throws {
        let clock = FakeClock()
        let registry = try DracRegistry(store: DracMemoryStore(), window: .seconds(1800), clock: { clock.now })
        let a = address("198.51.100.9")
        #expect(registry.lookup(a) == nil)
        let expires = try registry.add(a)
        #expect(expires == clock.now + 1800)
        clock.now += 1799
        #expect(registry.lookup(a) == expires)
        clock.now += 1
        #expect(registry.lookup(a) == nil, "expired entries never authorize, swept or not")
        #expect(registry.list().isEmpty)
        try registry.add(a)
        #expect(registry.lookup(a) == clock.now + 1800)
        clock.now += 1000
        try registry.add(a) // refresh
        clock.now += 1000
        #expect(registry.lookup(a) != nil)
    }

    @Test("a sweep deletes expired entries only, from memory and from the database")
    func sweep() throws {
        let clock = FakeClock()
        let dir = try TestSupport.temporaryDirectory("drac")
        let store = try DracFileStore(path: dir + "/drac.db")
        let registry = try DracRegistry(store: store, window: .seconds(60), clock: { clock.now })
        try registry.add(address("192.0.2.1"))
        clock.now += 30
        try registry.add(address("192.0.2.2"))
        clock.now += 31
        #expect(try registry.sweep() == 1)
        #expect(registry.list().map(\.address) == ["192.0.2.2"])
        #expect(try store.load().keys.sorted() == ["192.0.2.2"])
    }

    @Test("a restarted registry keeps unexpired entries and drops expired ones")
    func restart() throws {
        let clock = FakeClock()
        let dir = try TestSupport.temporaryDirectory("drac")
        do {
            let registry = try DracRegistry(store: try DracFileStore(path: dir + "/drac.db"), window: .seconds(100), clock: { clock.now })
            try registry.add(address("192.0.2.1"))
            clock.now += 50
            try registry.add(address("2001:db8::5"))
        }
        clock.now += 60
        let store = try DracFileStore(path: dir + "/drac.db")
        let reopened = try DracRegistry(store: store, window: .seconds(100), clock: { clock.now })
        #expect(reopened.list().map(\.address) == ["2001:db8::5"])
        #expect(reopened.lookup(address("192.0.2.1")) == nil)
        #expect(try store.load().count == 1, "expired entries are deleted at start")
    }

    @Test("the file is drac's layout: a btree, key the address with no NUL, value the expiry in decimal")
    func layout() throws {
        let clock = FakeClock()
        let dir = try TestSupport.temporaryDirectory("drac")
        let registry = try DracRegistry(store: try DracFileStore(path: dir + "/drac.db"), window: .seconds(1800), clock: { clock.now })
        try registry.add(address("203.0.113.5"))
        let dump = try TestSupport.run(["/usr/bin/db5.3_dump", "-p", dir + "/drac.db"])
        #expect(dump.status == 0)
        #expect(dump.stdout.contains("type=btree"))
        #expect(dump.stdout.contains(" 203.0.113.5\n 1800001800\n"))
        // And what a sendmail map reader sees.
        #expect(try BerkeleyDB(path: dir + "/drac.db", kind: .btree, mode: .readOnly).get(Array("203.0.113.5".utf8))
            == Array("1800001800".utf8))
    }

    @Test("flush and delete")
    func flushAndDelete() throws {
        let registry = try DracRegistry(store: DracMemoryStore(), window: .seconds(60))
        try registry.add(address("192.0.2.1"))
        try registry.add(address("192.0.2.2"))
        #expect(try registry.delete(address("192.0.2.1")))
        #expect(try !registry.delete(address("192.0.2.1")))
        #expect(try registry.flush() == 1)
        #expect(registry.list().isEmpty)
    }
}
