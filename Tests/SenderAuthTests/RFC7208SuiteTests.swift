import DNS
import Foundation
import RelayPolicyService
import SenderAuth
import Testing
import TestSupport
import Yams

/// The RFC 7208 test suite (openspf.org's, release 2014.04, as published in pyspf 2.0.14's
/// sources: Fixtures/rfc7208-tests.yml, with its BSD licence beside it) against records served by a real dnsmasq on
/// loopback: every case whose zone dnsmasq can serve is run through SPFEvaluator over
/// Shared/DNS, and its result must be one the suite allows. The same cases go to pyspf (Debian's
/// python3-spf) on the same dnsmasq, and the two must agree except where listed below.
@Suite("SPF: the RFC 7208 test suite and pyspf on a loopback dnsmasq", .serialized)
struct RFC7208SuiteTests {
    static let suitePath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/rfc7208-tests.yml").path
    static let pyspf = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("pyspf-check.py").path

    struct Case {
        var scenario: String
        var name: String
        var ip: String
        var sender: String
        var helo: String
        var allowed: Set<String>
    }

    /// Cases not run, with the reason (the zone is served as it is otherwise).
    static let skipped: [String: String] = [
        "a-colon-domain": "the record names foo:bar/baz.example.com, which dnsmasq cannot serve (':' and '/' in a name)",
        "a-colon-domain-ip4mapped": "the record names foo:bar/baz.example.com, which dnsmasq cannot serve (':' and '/' in a name)",
        "mx-colon-domain": "the record names foo:bar/baz.example.com, which dnsmasq cannot serve (':' and '/' in a name)",
        "mx-colon-domain-ip4mapped": "the record names foo:bar/baz.example.com, which dnsmasq cannot serve (':' and '/' in a name)",
        "a-null": "the record holds a NUL octet, which dnsmasq's txt-record cannot carry",
        "mx-null": "the record holds a NUL octet, which dnsmasq's txt-record cannot carry",
        "macro-mania-in-domain": "its A record is at 'macro%percent  space%20url-space.example.com' (blanks, '%'), which dnsmasq cannot serve",
    ]

    /// Cases where pyspf 2.0.14 answers differently from us, and why we keep our answer.
    static let pyspfDisagreements: [String: String] = [
        "multispf1": "two identical SPF records: permerror for us (RFC 7208 4.5: more than one record), pyspf drops the duplicate and "
            + "evaluates it (fail); the suite allows both",
    ]

    @Test("every servable case: our result is one the suite allows; pyspf agrees")
    func suite() async throws {
        guard FileManager.default.fileExists(atPath: Self.suitePath) else {
            Issue.record("\(Self.suitePath) is missing: run scripts/install-deps.sh")
            return
        }
        let text = try String(contentsOfFile: Self.suitePath, encoding: .utf8)
        var ran = 0, skippedCount = 0
        var failures: [String] = [], disagreements: [String] = []
        for document in try Yams.load_all(yaml: text) {
            guard let scenario = document as? [String: Any], let tests = scenario["tests"] as? [String: Any] else { continue }
            let title = scenario["description"] as? String ?? "?"
            let zone = SPFTestZone(scenario["zonedata"] as? [String: Any] ?? [:])
            var cases: [Case] = []
            for (name, raw) in tests.sorted(by: { $0.key < $1.key }) {
                guard let test = raw as? [String: Any] else { continue }
                let allowed = (test["result"] as? [Any])?.map { "\($0)" } ?? ["\(test["result"] ?? "")"]
                if let reason = Self.skipped[name] {
                    skippedCount += 1
                    print("rfc7208 skipped \(name): \(reason)")
                    continue
                }
                cases.append(Case(scenario: title, name: name, ip: "\(test["host"] ?? "")", sender: "\(test["mailfrom"] ?? "")",
                                  helo: "\(test["helo"] ?? "")", allowed: Set(allowed)))
            }
            guard !cases.isEmpty else { continue }
            for note in zone.unsupported { print("rfc7208 zone of \(title): left out \(note)") }
            let directory = try TestSupport.temporaryDirectory("spf")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try zone.lines.joined(separator: "\n").appending("\n").write(toFile: directory + "/zone.conf", atomically: true, encoding: .utf8)
            let dns: TestDNSServer
            do {
                dns = try await TestDNSServer(records: ["conf-file=\(directory)/zone.conf"])
            } catch {
                let check = try TestSupport.run(["/usr/sbin/dnsmasq", "--test", "--conf-file=\(directory)/zone.conf"])
                Issue.record("dnsmasq refuses the zone of \(title): \(check.stdout) \(check.stderr)\n\(zone.lines.joined(separator: "\n"))")
                continue
            }
            defer { withExtendedLifetime(dns) {} }
            let resolver = SenderAuthDNS(DNSResolver(servers: [DNSResolver.Server(dns.server)!], timeout: .seconds(1), attempts: 1))
            let evaluator = SPFEvaluator(resolver: resolver, receiver: "receiver.test")
            let input = cases.map { "\($0.ip)\t\($0.sender)\t\($0.helo)\n" }.joined()
            let theirs = try await TestSupport.runAsync(["/usr/bin/python3", Self.pyspf, String(dns.port)], input: Array(input.utf8))
            let pyspfResults = theirs.stdout.split(separator: "\n").map(String.init)
            #expect(pyspfResults.count == cases.count, "pyspf: \(theirs.stderr)")
            for (index, test) in cases.enumerated() {
                guard let ip = IPAddress(test.ip) else { failures.append("\(test.name): bad host \(test.ip)"); continue }
                let sender = test.sender.isEmpty ? "" : test.sender
                let ours = await evaluator.check(ip: ip, helo: test.helo, sender: sender).result
                ran += 1
                if !test.allowed.contains(ours.kind.rawValue) {
                    failures.append("\(test.name) [\(test.scenario)]: got \(ours.kind.rawValue) (\(ours.reason)), allowed \(test.allowed.sorted())")
                }
                let pyspf = index < pyspfResults.count ? pyspfResults[index] : "missing"
                if pyspf != ours.kind.rawValue && Self.pyspfDisagreements[test.name] == nil {
                    disagreements.append("\(test.name): ours \(ours.kind.rawValue), pyspf \(pyspf), allowed \(test.allowed.sorted())")
                }
            }
        }
        print("rfc7208: \(ran) cases run, \(skippedCount) skipped, \(failures.count) failed, \(disagreements.count) pyspf disagreements")
        for failure in failures { print("rfc7208 FAIL \(failure)") }
        for disagreement in disagreements { print("rfc7208 PYSPF \(disagreement)") }
        #expect(failures.isEmpty)
        #expect(disagreements.isEmpty)
        #expect(ran > 150)
    }
}
