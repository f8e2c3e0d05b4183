import DKIM
import Foundation
import Testing
import TestSupport

/// DKIMSigner and DKIMVerifier against each other and against messages signed by dkimpy
/// (Debian's python3-dkim, `dkimsign`; the fixtures were made with it): every result of RFC
/// 8601 from the lookup's answers, the bounds, the key files.
@Suite("DKIM sign and verify")
struct DKIMSignVerifyTests {
    static let rsaRecord = "v=DKIM1; k=rsa; p=" + DKIMTesting.text("rsa2048.spki.b64")
    static let edRecord = "v=DKIM1; k=ed25519; p=" + DKIMTesting.text("ed25519.raw.b64")
    static let records = [
        "sel._domainkey.domain1.com": [rsaRecord],
        "ed._domainkey.domain1.com": [edRecord],
    ]

    func signer(clock: Int64 = 1_796_000_000, headers: [String]? = nil) throws -> DKIMSigner {
        try DKIMSigner(keys: [DKIMSigningKey(domain: "domain1.com", selector: "sel", key: DKIMTesting.key("rsa2048.pem")),
                              DKIMSigningKey(domain: "Domain1.com", selector: "ed", key: DKIMTesting.key("ed25519.pem"))],
                       headers: headers, clock: { clock })
    }

    func verify(_ message: [UInt8], records: [String: [String]] = records, failing: Set<String> = [],
                now: Int64 = 1_796_000_000) async -> [DKIMResult] {
        await DKIMVerifier(clock: { now }, lookup: DKIMTesting.lookup(records, failing: failing)).verify(message)
    }

    @Test func publicKeysMatchOpenSSL() throws {
        #expect(try DKIMTesting.key("rsa2048.pem").publicKeyBase64 == DKIMTesting.text("rsa2048.spki.b64"))
        #expect(try DKIMTesting.key("rsa2048.pkcs1.pem").publicKeyBase64 == DKIMTesting.text("rsa2048.spki.b64"))
        #expect(try DKIMTesting.key("ed25519.pem").publicKeyBase64 == DKIMTesting.text("ed25519.raw.b64"))
        #expect(try DKIMTesting.key("ed25519.seed").publicKeyBase64 == DKIMTesting.text("ed25519.raw.b64"))
        #expect(throws: DKIMPrivateKey.Error.rsaTooSmall(1024)) { try DKIMTesting.key("rsa1024.pem") }
        #expect(throws: (any Error).self) { try DKIMPrivateKey(fileText: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n") }
        // What we write reads back as the same key.
        let ed = try DKIMTesting.key("ed25519.pem")
        #expect(try DKIMPrivateKey(fileText: ed.pemRepresentation).publicKeyBase64 == ed.publicKeyBase64)
        #expect(ed.pemRepresentation == DKIMTesting.text("ed25519.pem"))
    }

    @Test func dkimpySignaturesVerify() async throws {
        var records = Self.records
        records["sel._domainkey.domain1.com"] = [Self.rsaRecord]
        for name in ["dkimpy-rsa.eml", "dkimpy-ed.eml", "dkimpy-edrr.eml"] {
            let key = name.contains("ed") ? Self.edRecord : Self.rsaRecord
            let results = await verify(DKIMTesting.fixture(name), records: ["sel._domainkey.domain1.com": [key]])
            #expect(results.map(\.kind) == [.pass], "\(name): \(results)")
            #expect(results.first?.domain == "domain1.com" && results.first?.selector == "sel")
        }
        let small = await verify(DKIMTesting.fixture("dkimpy-rsa1024.eml"),
                                 records: ["sel._domainkey.domain1.com": ["v=DKIM1; p=" + DKIMTesting.text("rsa1024.spki.b64")]])
        #expect(small.map(\.kind) == [.pass]) // 1024 bits: still verified (RFC 8301), never signed with
        let sha1 = await verify(DKIMTesting.fixture("dkimpy-sha1.eml"))
        #expect(sha1.map(\.kind) == [.policy] && sha1[0].algorithm == "rsa-sha1")
    }

    @Test func ourSignaturesVerify() async throws {
        let message = DKIMTesting.fixture("message.eml")
        let fields = try signer().signatureFields(for: message)
        let text = String(decoding: fields, as: UTF8.self)
        #expect(text.components(separatedBy: "DKIM-Signature:").count == 3)
        #expect(text.split(separator: "\r\n").allSatisfy { $0.count <= 78 }, "\(text)")
        #expect(!text.contains("l=") && text.contains("t=1796000000;") && text.contains("d=domain1.com;"))
        #expect(text.contains("a=rsa-sha256;") && text.contains("a=ed25519-sha256;") && text.contains("c=relaxed/relaxed;"))
        // From signed once more than present; Received is never signed.
        let h = text.components(separatedBy: "h=")[1].components(separatedBy: ";")[0].filter { !$0.isWhitespace }
        #expect(h == "from:from:subject:date:message-id:to:mime-version:content-type:content-transfer-encoding")
        let results = await verify(fields + message)
        #expect(results.map(\.kind) == [.pass, .pass], "\(results)")
        #expect(results.map(\.algorithm) == ["rsa-sha256", "ed25519-sha256"])
        #expect(results[0].authenticationResult.hasPrefix("dkim=pass header.d=domain1.com header.s=sel header.a=rsa-sha256 header.b="))
        // The same message with LF line ends signs the same way and verifies either way.
        let lf = Array(String(decoding: message, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n").utf8)
        #expect(try signer().signatureFields(for: lf) == fields)
        #expect(await verify(try signer().sign(lf)).map(\.kind) == [.pass, .pass])
    }

    @Test func changesBreakTheSignature() async throws {
        let signed = String(decoding: try signer().sign(DKIMTesting.fixture("message.eml")), as: UTF8.self)
        let changes: [(String, String)] = [
            ("body", signed.replacingOccurrences(of: "indented", with: "Indented")),
            ("subject", signed.replacingOccurrences(of: "Subject: a folded", with: "Subject: a Folded")),
            ("second From", signed.replacingOccurrences(of: "Date:", with: "From: evil@evil.test\r\nDate:")),
            ("appended body", signed + "more\r\n"),
        ]
        for (what, message) in changes {
            let results = await verify(Array(message.utf8))
            #expect(results.map(\.kind) == [.fail, .fail], "\(what): \(results)")
        }
        // Whitespace changes relaxed canonicalisation absorbs.
        let refolded = signed.replacingOccurrences(of: "To:  you@example.test,\r\n   other", with: "To: you@example.test,\r\n\tother")
        #expect(await verify(Array((refolded + "\r\n\r\n").utf8)).map(\.kind) == [.pass, .pass])
    }

    @Test func keyRecordResults() async throws {
        let message = try signer().sign(DKIMTesting.fixture("message.eml"))
        let cases: [([String: [String]], Set<String>, [DKIMResult.Kind])] = [
            ([:], [], [.permerror, .permerror]),                                          // no key
            (["sel._domainkey.domain1.com": ["v=DKIM1; p="]], [], [.permerror, .permerror]), // revoked; ed: none
            (["sel._domainkey.domain1.com": [Self.edRecord]], [], [.permerror, .permerror]), // k= mismatch
            (["sel._domainkey.domain1.com": ["v=DKIM1; h=sha1; p=" + DKIMTesting.text("rsa2048.spki.b64")]], [], [.permerror, .permerror]),
            (["sel._domainkey.domain1.com": ["garbage", Self.rsaRecord], "ed._domainkey.domain1.com": [Self.edRecord]], [], [.pass, .pass]),
            (Self.records, ["sel._domainkey.domain1.com", "ed._domainkey.domain1.com"], [.temperror, .temperror]),
            (["sel._domainkey.domain1.com": ["v=DKIM1; t=y; p=" + DKIMTesting.text("rsa2048.spki.b64")]], ["ed._domainkey.domain1.com"], [.pass, .temperror]),
            (["sel._domainkey.domain1.com": ["v=DKIM1; p=" + DKIMTesting.text("rsa1024.spki.b64")]], [], [.fail, .permerror]),
        ]
        for (records, failing, kinds) in cases {
            let results = await verify(message, records: records, failing: failing)
            #expect(results.map(\.kind) == kinds, "\(records) \(failing): \(results)")
        }
        let testing = await verify(message, records: ["sel._domainkey.domain1.com": ["v=DKIM1; t=y; p=" + DKIMTesting.text("rsa2048.spki.b64")]])
        #expect(testing[0].testing)
    }

    @Test func badSignatureFields() async throws {
        let body = "From: a@domain1.com\r\nSubject: x\r\n\r\nbody\r\n"
        let bh = DKIMTesting.bodyHash("body\r\n", .relaxed)
        func result(_ tags: String, now: Int64 = 1_796_000_000) async -> DKIMResult.Kind? {
            await verify(Array(("DKIM-Signature: " + tags + "\r\n" + body).utf8), now: now).first?.kind
        }
        let base = "v=1; a=rsa-sha256; c=relaxed/relaxed; d=domain1.com; s=sel; h=from; bh=\(bh); b=AAAA"
        #expect(await result(base) == .fail)
        #expect(await result(base.replacingOccurrences(of: "v=1", with: "v=2")) == .neutral)
        #expect(await result(base.replacingOccurrences(of: "h=from", with: "h=subject")) == .neutral)
        #expect(await result(base.replacingOccurrences(of: "a=rsa-sha256", with: "a=rsa-md5")) == .neutral)
        #expect(await result(base.replacingOccurrences(of: "c=relaxed/relaxed", with: "c=odd")) == .neutral)
        #expect(await result(base.replacingOccurrences(of: "d=domain1.com", with: "d=bad..name")) == .neutral)
        #expect(await result(base + "; i=x@other.test") == .neutral)
        #expect(await result(base + "; i=x@sub.domain1.com") == .fail)
        #expect(await result(base + "; q=http") == .neutral)
        #expect(await result(base + "; t=100; x=50") == .neutral)
        #expect(await result(base + "; t=100; x=200", now: 300) == .permerror) // expired
        #expect(await result(base + "; a=again") == .neutral)                   // a duplicate tag
        #expect(await result(base.replacingOccurrences(of: "b=AAAA", with: "b=")) == .neutral)
        // No more than maxSignatures are looked at.
        let seven = String(repeating: "DKIM-Signature: " + base + "\r\n", count: 7) + body
        #expect(await verify(Array(seven.utf8)).count == DKIMVerifier.defaultMaxSignatures)
        #expect(await verify(Array(body.utf8)).isEmpty)
    }

    @Test func keyFiles() throws {
        let dir = try TestSupport.temporaryDirectory("dkim")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let key = try DKIMTesting.key("ed25519.pem")
        try DKIMKeyFile.write(key, to: dir + "/k.pem")
        #expect((try FileManager.default.attributesOfItem(atPath: dir + "/k.pem")[.posixPermissions] as? Int) == 0o600)
        #expect(try DKIMKeyFile.load(dir + "/k.pem").publicKeyBase64 == key.publicKeyBase64)
        #expect(throws: (any Error).self) { try DKIMKeyFile.write(key, to: dir + "/k.pem") } // never overwrites
        chmod(dir + "/k.pem", 0o640)
        do {
            _ = try DKIMKeyFile.load(dir + "/k.pem")
            Issue.record("a group-readable key was loaded")
        } catch {
            #expect(error.description == "\(dir)/k.pem: permissions 640 are too open: the key must be readable by its owner only (chmod 600)")
        }
        #expect(throws: (any Error).self) { try DKIMKeyFile.load(dir + "/missing.pem") }
        FileManager.default.createFile(atPath: dir + "/junk.pem", contents: Data("junk".utf8), attributes: [.posixPermissions: 0o600])
        #expect(throws: (any Error).self) { try DKIMKeyFile.load(dir + "/junk.pem") }
    }
}
