import SenderAuth
import Testing

/// Authentication-Results: as written, and forged ones removed at the byte level.
@Suite("Authentication-Results: and the inbound header filter")
struct AuthenticationResultsTests {
    @Test("the field, with values from outside made safe")
    func field() {
        var results = AuthenticationResults(authservID: "mx.example.org")
        results.spf = SPFCheck(identity: .mailfrom, sender: "a b\"c@x.example", domain: "x.example", result: SPFResult(.pass, "matched (ip4)\r\n"))
        var dmarc = DMARCResult(kind: .fail, fromDomain: "x.example", reason: "")
        dmarc.policy = .reject
        results.dmarc = dmarc
        #expect(results.field == "Authentication-Results: mx.example.org;\r\n\tspf=pass (matched ?ip4???) smtp.mailfrom=\"a b\\\"c@x.example\";\r\n\tdmarc=fail (p=reject) header.from=x.example\r\n")
        results.dkimChecked = true
        results.dkim = [DKIMOutcome(domain: "x.example", selector: "s1", result: "pass")]
        #expect(results.field.contains("\tdkim=pass header.d=x.example header.s=s1;\r\n"))
        #expect(AuthenticationResults(authservID: "mx.example.org").field == "Authentication-Results: mx.example.org;\r\n\tnone\r\n")
    }

    static let message = Array((
        "Authentication-Results: MX.example.org; spf=pass smtp.mailfrom=forged@bank.example\r\n" +
        "Received: from a\r\n\tby b\r\n" +
        "Authentication-Results:\r\n (comment) mx.example.org;\r\n\tdkim=pass\r\n" +
        "Authentication-Results: other.example; spf=fail\r\n" +
        "X-Mailstack-Quarantine: no\r\n" +
        "From: Bank <alerts@bank.example>\r\n" +
        "Subject: hi\r\n" +
        "\r\n" +
        "Authentication-Results: mx.example.org; in the body stays\r\n").utf8)

    static let expected =
        "Received: from a\r\n\tby b\r\n" +
        "Authentication-Results: other.example; spf=fail\r\n" +
        "From: Bank <alerts@bank.example>\r\n" +
        "Subject: hi\r\n" +
        "\r\n" +
        "Authentication-Results: mx.example.org; in the body stays\r\n"

    @Test("forged fields with our authserv-id are removed, whole or drip-fed")
    func filter() {
        var whole = InboundHeaderFilter(authservID: "mx.example.org")
        let out = whole.feed(Self.message) + whole.finish()
        #expect(String(decoding: out, as: UTF8.self) == Self.expected)
        #expect(whole.removed == 3)
        #expect(whole.fromFields == [" Bank <alerts@bank.example>"])
        var drip = InboundHeaderFilter(authservID: "mx.example.org")
        var dripped: [UInt8] = []
        for byte in Self.message { dripped += drip.feed([byte]) }
        dripped += drip.finish()
        #expect(dripped == out)
    }

    @Test("a header field past the hold limit is passed on, or dropped whole")
    func longFields() {
        let continuation = Array(repeating: Array("\tx\r\n".utf8), count: InboundHeaderFilter.maxField / 4 + 10).flatMap { $0 }
        var filter = InboundHeaderFilter(authservID: "mx.example.org")
        let kept = filter.feed(Array("X-Long: a\r\n".utf8) + continuation + Array("\r\nbody\r\n".utf8)) + filter.finish()
        #expect(kept.count == 11 + continuation.count + 8)
        var dropper = InboundHeaderFilter(authservID: "mx.example.org")
        let dropped = dropper.feed(Array("Authentication-Results: mx.example.org;\r\n".utf8) + continuation + Array("\r\nbody\r\n".utf8)) + dropper.finish()
        #expect(String(decoding: dropped, as: UTF8.self) == "\r\nbody\r\n")
    }
}
