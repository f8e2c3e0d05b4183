import DNS
import Foundation
import Testing
import TestSupport

/// The resolver against a real DNS server (dnsmasq) on loopback, and against servers that fail.
@Suite("DNS resolver on a loopback dnsmasq", .serialized)
struct DNSResolverTests {
    static let records = [
        "host-record=good.test,192.0.2.10",
        "host-record=v6.test,2001:db8::10",
        "ptr-record=11.2.0.192.in-addr.arpa,forged.test",
        "host-record=forged.test,192.0.2.99",
        "mx-host=example.test,mx1.example.test,10",
        "mx-host=example.test,mx2.example.test,20",
        "mx-host=example.test,mx3.example.test,20",
        "txt-record=txt.test,v=spf1 ip4:192.0.2.0/24,  -all", "txt-record=txt.test,second record",
    ]

    func resolver(_ dns: TestDNSServer) -> DNSResolver {
        DNSResolver(servers: [DNSResolver.Server(dns.server)!], timeout: .seconds(10), attempts: 1)
    }

    @Test("client resolve: OK, FORGED, FAIL, and IPv6")
    func clientResolve() async throws {
        let dns = try await TestDNSServer(records: Self.records)
        defer { withExtendedLifetime(dns) {} }
        let r = resolver(dns)
        #expect(await r.resolveClient("192.0.2.10") == .ok(name: "good.test"))
        #expect(await r.resolveClient("192.0.2.11") == .forged(name: "forged.test"))
        #expect(await r.resolveClient("192.0.2.12") == .fail)
        #expect(await r.resolveClient("2001:db8::10") == .ok(name: "v6.test"))
        #expect(await r.resolveClient("2001:db8:0:0::10") == .ok(name: "v6.test"))
    }

    @Test("A/AAAA and MX lookups; NXDOMAIN is not temporary")
    func lookups() async throws {
        let dns = try await TestDNSServer(records: Self.records)
        defer { withExtendedLifetime(dns) {} }
        let r = resolver(dns)
        #expect(try await r.addresses("good.test") == ["192.0.2.10"])
        #expect(try await r.addresses("v6.test") == ["2001:db8::10"])
        let mx = try await r.mx("example.test")
        #expect(mx.map(\.preference) == [10, 20, 20])
        #expect(mx[0].host == "mx1.example.test")
        #expect(Set(mx.dropFirst().map(\.host)) == ["mx2.example.test", "mx3.example.test"])
        await #expect(throws: DNSResolver.Failure.nxdomain) { try await r.addresses("missing.test") }
    }

    @Test("answers are cached for their TTL: a stopped server still answers cached names")
    func cache() async throws {
        var dns: TestDNSServer? = try await TestDNSServer(records: Self.records)
        let r = resolver(dns!)
        #expect(try await r.addresses("good.test") == ["192.0.2.10"])
        dns = nil
        #expect(try await r.addresses("good.test") == ["192.0.2.10"])
    }

    @Test("a server that does not answer, or is not there, is TEMP, never FAIL")
    func temporary() async throws {
        // A UDP socket that reads and never answers.
        let silent = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(silent) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(silent, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(silent, $0, &length) }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let mute = DNSResolver(servers: [.init(address: "127.0.0.1", port: port)], timeout: .seconds(1), attempts: 1)
        let start = ContinuousClock.now
        #expect(await mute.resolveClient("192.0.2.10") == .temp)
        #expect(ContinuousClock.now - start < .seconds(5))
        let absent = DNSResolver(servers: [.init(address: "127.0.0.1", port: 9)], timeout: .seconds(1), attempts: 1)
        #expect(await absent.resolveClient("192.0.2.10") == .temp)
    }

    @Test("TXT: each record's strings joined, NXDOMAIN and NODATA told apart")
    func txt() async throws {
        let dns = try await TestDNSServer(records: Self.records)
        defer { withExtendedLifetime(dns) {} }
        let r = resolver(dns)
        #expect(try await r.txt("txt.test").sorted() == ["second record", "v=spf1 ip4:192.0.2.0/24  -all"])
        #expect(try await r.txt("good.test") == [])
        await #expect(throws: DNSResolver.Failure.nxdomain) { try await r.txt("missing.test") }
    }
}
