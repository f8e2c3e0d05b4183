import DKIM
import Foundation
import Testing

/// The tag-list grammar, the key record, header splitting and canonicalisation, on byte
/// fixtures (RFC 6376 3.2, 3.4, 3.6.1; the examples of 3.4.5).
@Suite("DKIM grammar")
struct DKIMGrammarTests {
    @Test func tagLists() throws {
        let list = try DKIMTagList(parsing: Array(" v=1; a=rsa-sha256 ;\r\n\th=from : to;bh=ab\r\n cd= ;".utf8))
        #expect(list.tags.map(\.name) == ["v", "a", "h", "bh"])
        #expect(list.value("a") == "rsa-sha256")
        #expect(list.value("h", stripped: true) == "from:to")
        #expect(list.value("bh", stripped: true) == "abcd=")
        #expect(try DKIMTagList(parsing: Array("".utf8)).tags.isEmpty)
        #expect(try DKIMTagList(parsing: Array("p=".utf8)).value("p") == "")
        let bad: [(String, DKIMTagList.Error)] = [
            ("a=1; a=2", .duplicate("a")),
            ("1a=x", .badTagName("1a")),
            ("a=1;;b=2", .badTagName("")),
            ("novalue", .missingEquals("novalue")),
            ("a=x;y", .badValue(tag: "a")),           // ';' ends the spec: "y" has no '='
            ("a=\u{7}", .badValue(tag: "a")),
            ("a=b\r\nc", .badValue(tag: "a")),        // a line break that is not a fold
        ]
        for (text, error) in bad {
            if text == "a=x;y" {
                #expect(throws: DKIMTagList.Error.missingEquals("y")) { try DKIMTagList(parsing: Array(text.utf8)) }
                continue
            }
            #expect(throws: error) { try DKIMTagList(parsing: Array(text.utf8)) }
        }
        #expect(throws: DKIMTagList.Error.tooLong) { try DKIMTagList(parsing: [UInt8](repeating: 0x61, count: DKIMTagList.maxLength + 1)) }
        let many = (0...DKIMTagList.maxTags).map { "t\($0)=x" }.joined(separator: ";")
        #expect(throws: DKIMTagList.Error.tooManyTags) { try DKIMTagList(parsing: Array(many.utf8)) }
    }

    @Test func keyRecords() throws {
        let rsa = try DKIMKeyRecord(parsing: "v=DKIM1; k=rsa; t=y:s; h=sha1:sha256; p=AQID")
        #expect(rsa.keyType == "rsa" && rsa.testing && rsa.strictIdentity && rsa.hashes == ["sha1", "sha256"] && rsa.publicKey == [1, 2, 3])
        let ed = try DKIMKeyRecord(parsing: "k=ed25519; p=AQ ID")
        #expect(ed.keyType == "ed25519" && !ed.testing && ed.publicKey == [1, 2, 3])
        #expect(try DKIMKeyRecord(parsing: "v=DKIM1; p=").publicKey.isEmpty) // revoked
        #expect(throws: DKIMKeyRecord.Error.badVersion) { try DKIMKeyRecord(parsing: "k=rsa; v=DKIM1; p=AQID") }
        #expect(throws: DKIMKeyRecord.Error.badVersion) { try DKIMKeyRecord(parsing: "v=DKIM2; p=AQID") }
        #expect(throws: DKIMKeyRecord.Error.noPublicKey) { try DKIMKeyRecord(parsing: "v=DKIM1; k=rsa") }
        #expect(throws: DKIMKeyRecord.Error.badBase64) { try DKIMKeyRecord(parsing: "v=DKIM1; p=!!!") }
        #expect(throws: DKIMKeyRecord.Error.notForEmail) { try DKIMKeyRecord(parsing: "s=tlsrpt; p=AQID") }
        #expect(DKIMKeyRecord.zoneStrings(String(repeating: "a", count: 600)).map(\.count) == [257, 257, 92])
    }

    @Test func headerSplitting() {
        let message = DKIMMessage(Array("From: a@b.test\nSubject: one\n  two\r\nbroken line\nX:\n\nbody\nline".utf8))
        #expect(message.fields.map(\.name) == ["From", "Subject", "", "X"])
        #expect(message.fields[1].raw == Array("Subject: one\r\n  two\r\n".utf8))
        #expect(Array(message.body) == Array("body\nline".utf8))
        #expect(message.fromDomain == "b.test")
        #expect(DKIMMessage(Array("From: \"A, B\" <x@Dom.Test>\r\n\r\n".utf8)).fromDomain == "dom.test")
        #expect(DKIMMessage(Array("From: x@dom.test (comment@other)\r\n\r\n".utf8)).fromDomain == "dom.test")
        #expect(DKIMMessage(Array("From: a@x.test\r\nFrom: b@y.test\r\n\r\n".utf8)).fromDomain == nil)
        #expect(DKIMMessage(Array("From: a@x.test, b@y.test\r\n\r\n".utf8)).fromDomain == nil)
        #expect(DKIMMessage(Array("Subject: no body".utf8)).body.isEmpty)
    }

    /// RFC 6376 3.4.5: the example under both canonicalisations, via a signature made with each
    /// and checked by body hash (the header canonical forms are exercised by the signers'
    /// interop tests).
    @Test func bodyCanonicalization() throws {
        // The RFC's example body: " C \r\nD \t E\r\n\r\n\r\n"
        let body = " C \r\nD \t E\r\n\r\n\r\n"
        #expect(DKIMTesting.bodyHash(body, .relaxed) == DKIMTesting.sha256(" C\r\nD E\r\n"))
        #expect(DKIMTesting.bodyHash(body, .simple) == DKIMTesting.sha256(" C \r\nD \t E\r\n"))
        // Empty bodies (3.4.3, 3.4.4), and LF line ends read as CRLF.
        #expect(DKIMTesting.bodyHash("", .simple) == DKIMTesting.sha256("\r\n"))
        #expect(DKIMTesting.bodyHash("", .relaxed) == DKIMTesting.sha256(""))
        #expect(DKIMTesting.bodyHash("\r\n\r\n", .relaxed) == DKIMTesting.sha256(""))
        #expect(DKIMTesting.bodyHash("a  b \nc", .relaxed) == DKIMTesting.sha256("a b\r\nc\r\n"))
        #expect(DKIMTesting.bodyHash("a\n \n", .simple) == DKIMTesting.sha256("a\r\n \r\n"))
    }
}
