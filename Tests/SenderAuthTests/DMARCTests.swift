import SenderAuth
import Testing

/// DMARC's record grammar, the Public Suffix List (Debian's), alignment, the From: domain and
/// the disposition table.
@Suite("DMARC records, organizational domains and dispositions")
struct DMARCTests {
    static let suffixes = try! PublicSuffixList.load()

    @Test("records")
    func records() throws {
        let r = try DMARCRecord.parse("v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=s; pct=25; rua=mailto:d@example.com")
        #expect(r.policy == .reject && r.subdomainPolicy == .quarantine && r.dkimAlignment == .strict && r.spfAlignment == .strict && r.percent == 25)
        let spaced = try DMARCRecord.parse("v = DMARC1 ;p = Quarantine ; pct=abc; adkim=x")
        #expect(spaced.policy == .quarantine && spaced.percent == 100 && spaced.dkimAlignment == .relaxed)
        #expect(try DMARCRecord.parse("v=DMARC1; rua=mailto:x@example.com").policy == .none)
        #expect(throws: DMARCRecord.SyntaxError.self) { try DMARCRecord.parse("v=DMARC1; p=bogus") }
        #expect(throws: DMARCRecord.SyntaxError.self) { try DMARCRecord.parse("v=DMARC2; p=reject") }
        #expect(throws: DMARCRecord.SyntaxError.self) { try DMARCRecord.parse("p=reject; v=DMARC1") }
        #expect(!DMARCRecord.isDMARC("v=spf1 -all"))
        #expect(throws: DMARCRecord.SyntaxError.self) {
            try DMARCRecord.parse("v=DMARC1; p=reject" + String(repeating: "; x=y", count: 100))
        }
    }

    @Test("organizational domains from Debian's list", arguments: [
        ("mail.example.com", "example.com"),
        ("example.com", "example.com"),
        ("a.b.example.co.uk", "example.co.uk"),
        ("co.uk", "co.uk"),
        ("www.city.kawasaki.jp", "city.kawasaki.jp"),   // an exception rule (!city.kawasaki.jp)
        ("a.b.c.kawasaki.jp", "b.c.kawasaki.jp"),       // a wildcard rule (*.kawasaki.jp)
        ("x.unknowntld", "x.unknowntld"),               // the default rule "*"
        ("Mail.Example.COM.", "example.com"),
    ])
    func organizational(name: String, expected: String) {
        #expect(Self.suffixes.organizationalDomain(name) == expected)
    }

    @Test("the list's bounds and comments")
    func listBounds() throws {
        let list = try PublicSuffixList(text: "// comment\ncom\n*.ck\n!www.ck\n\n")
        #expect(list.organizationalDomain("a.b.example.com") == "example.com")
        #expect(list.organizationalDomain("x.y.ck") == "x.y.ck")
        #expect(list.organizationalDomain("a.www.ck") == "www.ck")
        #expect(throws: PublicSuffixList.Failure.self) { try PublicSuffixList(text: String(repeating: "x", count: 300)) }
    }

    struct NoDNS: TXTResolver {
        func txt(_ name: String) async throws(DNSLookupError) -> [String] { throw .nxdomain }
    }

    @Test("alignment, relaxed and strict")
    func alignment() {
        let e = DMARCEvaluator(resolver: NoDNS(), suffixes: Self.suffixes)
        #expect(e.aligned("bounce.example.com", "example.com", .relaxed))
        #expect(!e.aligned("bounce.example.com", "example.com", .strict))
        #expect(e.aligned("EXAMPLE.com.", "example.com", .strict))
        #expect(!e.aligned("example.co.uk", "other.co.uk", .relaxed))
    }

    @Test("the From: domain", arguments: [
        (["\"Bank\" <alerts@bank.example>"], FromDomain.domain("bank.example")),
        ([" a@x.example (comment, with <b@y.example>), \"c, d\" <c@X.example>"], .domain("x.example")),
        (["a@x.example, b@y.example"], .multipleDomains),
        (["a@x.example", "b@x.example"], .multipleFields),
        ([], .missing),
        (["undisclosed-recipients:;"], .unparsable),
        (["Group: a@x.example, b@x.example;"], .domain("x.example")),
        (["<user@[192.0.2.1]>"], .unparsable),
    ])
    func from(fields: [String], expected: FromDomain) {
        #expect(FromDomain(fields: fields) == expected)
    }

    @Test("the disposition table")
    func dispositions() {
        var fail = DMARCResult(kind: .fail, fromDomain: "x.example", reason: "")
        fail.record = DMARCRecord(policy: .reject)
        fail.record!.percent = 50
        fail.policy = .reject
        let one = FromDomain.domain("x.example")
        #expect(DMARCDisposition.decide(mode: .enforce, mayRelay: false, result: fail, from: one, draw: 10) == .reject)
        #expect(DMARCDisposition.decide(mode: .enforce, mayRelay: false, result: fail, from: one, draw: 60) == .quarantine)
        #expect(DMARCDisposition.decide(mode: .enforce, mayRelay: true, result: fail, from: one, draw: 10) == .accept)
        #expect(DMARCDisposition.decide(mode: .reportOnly, mayRelay: false, result: fail, from: one, draw: 10) == .accept)
        fail.policy = .quarantine
        #expect(DMARCDisposition.decide(mode: .enforce, mayRelay: false, result: fail, from: one, draw: 49) == .quarantine)
        #expect(DMARCDisposition.decide(mode: .enforce, mayRelay: false, result: fail, from: one, draw: 50) == .accept)
        let temp = DMARCResult(kind: .temperror, fromDomain: "x.example", reason: "")
        #expect(DMARCDisposition.decide(mode: .enforce, mayRelay: false, result: temp, from: one, draw: 0) == .accept)
        let perm = DMARCResult(kind: .permerror, fromDomain: "", reason: "")
        #expect(DMARCDisposition.decide(mode: .enforce, mayRelay: false, result: perm, from: .multipleFields, draw: 99) == .reject)
        #expect(DMARCDisposition.decide(mode: .enforce, mayRelay: false, result: perm, from: .missing, draw: 0) == .accept)
    }
}
