import DNS
import RelayPolicyService
import SenderAuth
import Synchronization
import Testing
import TestSupport

/// Hostile records against a real dnsmasq: however they are written, one check asks at most
/// 1 + 10 x 11 questions (10 DNS-querying terms, each mx at most 10 names) and ends in permerror
/// when a limit is passed; a server that does not answer is temperror.
@Suite("SPF limits: no DNS amplification", .serialized)
struct SPFLimitsTests {
    /// Counts the questions SPF asks (before the resolver's cache).
    final class Counting: SenderAuthResolver, @unchecked Sendable {
        let inner: SenderAuthDNS
        let count = Atomic<Int>(0)
        init(_ inner: SenderAuthDNS) { self.inner = inner }
        func txt(_ name: String) async throws(DNSLookupError) -> [String] { count.add(1, ordering: .relaxed); return try await inner.txt(name) }
        func addresses(_ name: String, v6: Bool) async throws(DNSLookupError) -> [IPAddress] {
            count.add(1, ordering: .relaxed); return try await inner.addresses(name, v6: v6)
        }
        func mx(_ name: String) async throws(DNSLookupError) -> [String] { count.add(1, ordering: .relaxed); return try await inner.mx(name) }
        func ptr(_ address: IPAddress) async throws(DNSLookupError) -> [String] { count.add(1, ordering: .relaxed); return try await inner.ptr(address) }
    }

    static let records: [String] = {
        var r = [
            // Ten mx terms, each naming ten exchanges without addresses: 1 + 10 x 11 questions.
            "txt-record=mx10.test,v=spf1 " + Array(repeating: "mx:many.test", count: 10).joined(separator: " ") + " -all",
            // An eleventh DNS term: permerror.
            "txt-record=eleven.test,v=spf1 " + Array(repeating: "a:x.test", count: 11).joined(separator: " ") + " -all",
            // An include of itself.
            "txt-record=loop.test,v=spf1 include:loop.test -all",
            // Eleven MX names: permerror at the mx term.
            "txt-record=mx11.test,v=spf1 mx:eleven-mx.test -all",
            // Three lookups that find nothing: permerror at the third.
            "txt-record=void.test,v=spf1 a:n1.test a:n2.test a:n3.test -all",
            "host-record=x.test,192.0.2.99",
            "txt-record=slow.test,v=spf1 a:q.slow.test -all", "server=/q.slow.test/127.0.0.1#9",
        ]
        for i in 1...10 { r.append("mx-host=many.test,mx\(i).many.test,\(i)") }
        for i in 1...11 { r.append("mx-host=eleven-mx.test,mx\(i).eleven-mx.test,\(i)") }
        return r
    }()

    func check(_ domain: String, _ dns: TestDNSServer) async -> (SPFResult, Int) {
        let counting = Counting(SenderAuthDNS(DNSResolver(servers: [DNSResolver.Server(dns.server)!], timeout: .seconds(1), attempts: 1)))
        let result = await SPFEvaluator(resolver: counting).check(ip: IPAddress("192.0.2.1")!, helo: "helo.test", sender: "user@\(domain)").result
        return (result, counting.count.load(ordering: .relaxed))
    }

    @Test("each limit: permerror, and never more than 111 questions")
    func limits() async throws {
        let dns = try await TestDNSServer(records: Self.records)
        defer { withExtendedLifetime(dns) {} }
        let (mx10, asked) = await check("mx10.test", dns)
        // Ten terms are allowed and the exchanges' empty answers are not void lookups: the
        // record's -all decides, after exactly the most questions any record can cause.
        #expect(mx10.kind == .fail, "\(mx10)")
        #expect(asked == 1 + 10 * 11, "\(asked) questions")
        let (eleven, elevenAsked) = await check("eleven.test", dns)
        #expect(eleven.kind == .permerror && eleven.reason.contains("more than 10 DNS lookups"), "\(eleven)")
        #expect(elevenAsked <= 11)
        let (loop, loopAsked) = await check("loop.test", dns)
        #expect(loop.kind == .permerror, "\(loop)")
        #expect(loopAsked <= 11)
        let (mx11, _) = await check("mx11.test", dns)
        #expect(mx11.kind == .permerror && mx11.reason.contains("11 MX records"), "\(mx11)")
        let (void, voidAsked) = await check("void.test", dns)
        #expect(void.kind == .permerror && void.reason.contains("void"), "\(void)")
        #expect(voidAsked == 4)
        let (slow, _) = await check("slow.test", dns)
        #expect(slow.kind == .temperror, "\(slow)")
    }
}
