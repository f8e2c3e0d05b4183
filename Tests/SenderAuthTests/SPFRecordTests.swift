import SenderAuth
import Testing

/// SPF's grammar as tables: records that parse (and to what), records that are permerror, and
/// RFC 7208 7.4's macro examples.
@Suite("SPF records and macros")
struct SPFRecordTests {
    @Test("records that parse", arguments: [
        ("v=spf1", 0),
        ("V=SPF1 -all", 1),
        ("v=spf1 +a mx/24 ~ptr ?exists:%{i}.bl.example.com ip4:192.0.2.0/24 ip6:2001:db8::/32 include:_spf.example.net -all", 8),
        ("v=spf1 a:mail.example.com/24//64 mx:example.org//48 redirect=_spf.example.com", 2),
        ("v=spf1   ip4:192.0.2.1   unknown-mod=%{d}  -all  ", 2),
    ])
    func parses(record: String, directives: Int) throws {
        #expect(try SPFRecord.parse(record).directives.count == directives)
    }

    @Test("records that are permerror", arguments: [
        "v=spf1 foo",                  // unknown term
        "v=spf1 -foo:bar",             // unknown mechanism
        "v=spf1 a:museum",             // no "." toplabel
        "v=spf1 a:foo.example.123",    // numeric toplabel
        "v=spf1 ip4:192.0.2.1/33",     // prefix too long
        "v=spf1 ip4:192.0.2.1/024",    // leading zero
        "v=spf1 ip6:192.0.2.1",        // IPv4 in ip6
        "v=spf1 ip4:2001:db8::1",      // IPv6 in ip4
        "v=spf1 include:",             // empty domain
        "v=spf1 exists:%{x}.example.com", // unknown macro letter
        "v=spf1 exists:%{d0}.example.com", // zero parts
        "v=spf1 exists:%{c}.example.com",  // c only in exp
        "v=spf1 redirect=a.example.com redirect=b.example.com",
        "v=spf1 exp=a.example.com exp=b.example.com",
        "v=spf1 a:%.example.com",      // lone %
        "v=spf1 all:x",
        "v=spf1 1x=foo",               // modifier name must start with a letter
    ])
    func refused(record: String) {
        #expect(throws: SPFRecord.SyntaxError.self) { try SPFRecord.parse(record) }
    }

    @Test("only v=spf1 alone or followed by a space is SPF")
    func selection() {
        #expect(SPFRecord.isSPF("v=spf1"))
        #expect(SPFRecord.isSPF("v=spf1 -all"))
        #expect(!SPFRecord.isSPF("v=spf10 -all"))
        #expect(!SPFRecord.isSPF("v=spf1-all"))
        #expect(!SPFRecord.isSPF(" v=spf1 -all"))
    }

    @Test("redirect is ignored when the record has all")
    func redirectIgnored() throws {
        #expect(try SPFRecord.parse("v=spf1 -all redirect=x.example.com").redirect == nil)
        #expect(try SPFRecord.parse("v=spf1 redirect=x.example.com").redirect != nil)
    }

    @Test("RFC 7208 7.4's examples", arguments: [
        ("%{s}", "strong-bad@email.example.com"),
        ("%{o}", "email.example.com"),
        ("%{d}", "email.example.com"),
        ("%{d4}", "email.example.com"),
        ("%{d3}", "email.example.com"),
        ("%{d2}", "example.com"),
        ("%{d1}", "com"),
        ("%{dr}", "com.example.email"),
        ("%{d2r}", "example.email"),
        ("%{l}", "strong-bad"),
        ("%{l-}", "strong.bad"),
        ("%{lr}", "strong-bad"),
        ("%{lr-}", "bad.strong"),
        ("%{l1r-}", "strong"),
        ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
        ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
        ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
        ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
        ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
        ("%%%_%-", "% %20"),
        ("%{S}", "strong-bad%40email.example.com"),
    ])
    func macros(spec: String, expected: String) async throws {
        let expander = SPFMacroExpander(sender: "strong-bad@email.example.com", domain: "email.example.com",
                                        ip: IPAddress("192.0.2.3")!, helo: "mx.example.org")
        #expect(await expander.expand(try SPFMacroString.parse(Substring(spec))) == expected)
    }

    @Test("the IPv6 example, and IPv4-mapped clients are IPv4")
    func macrosIPv6() async throws {
        let expander = SPFMacroExpander(sender: "strong-bad@email.example.com", domain: "email.example.com",
                                        ip: IPAddress("2001:db8::cb01")!, helo: "mx.example.org")
        #expect(await expander.expand(try SPFMacroString.parse("%{ir}.%{v}._spf.%{d2}"))
            == "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com")
        #expect(IPAddress("::ffff:192.0.2.3")!.unmapped == IPAddress("192.0.2.3")!)
    }

    @Test("an expanded domain over 253 octets loses labels on the left")
    func longDomain() async throws {
        let long = String(repeating: "abcdefghi.", count: 30) + "example.com"
        let expander = SPFMacroExpander(sender: "x@\(long)", domain: long, ip: IPAddress("192.0.2.3")!, helo: "h.example")
        let name = await expander.domain(try SPFMacroString.parse("%{d}"))
        #expect(name.utf8.count <= 253)
        #expect(name.hasSuffix(".example.com"))
        #expect(name.hasPrefix("abcdefghi."))
    }

    /// An expansion ending in an empty label ("%{v}.." gives "in-addr..") must stay a name no
    /// lookup accepts; taking its last dot off left "in-addr.", which DomainName.isValid reads as
    /// the valid name "in-addr" written with a final dot (fuzz: spf-macro).
    @Test("one final dot is taken off; an empty last label keeps the name invalid")
    func finalDot() async throws {
        let expander = SPFMacroExpander(sender: "x@email.example.com", domain: "email.example.com", ip: IPAddress("192.0.2.3")!, helo: "h.example")
        #expect(await expander.domain(try SPFMacroString.parse("%{d}.")) == "email.example.com")
        #expect(await expander.domain(try SPFMacroString.parse("%{d}")) == "email.example.com")
        let empty = await expander.domain(try SPFMacroString.parse("%{v}.."))
        #expect(!DomainName.isValid(empty, multiLabel: false), "\(empty)")
        #expect(!DomainName.isValid(SPFMacroExpander.cut("a.example..."), multiLabel: false))
        #expect(!DomainName.isValid(SPFMacroExpander.cut("."), multiLabel: false))
    }
}
