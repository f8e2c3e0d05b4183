import DKIM
import Foundation

/// The DKIM tag-list (DKIM-Signature fields, key records) and the verifier on any octets, and
/// our own signatures of any message.
///
/// Properties: a tag-list that parses has well-formed names, once each, within the limits, and
/// its tags written back parse to the same list; the verifier gives at most
/// `defaultMaxSignatures` results whose every text is printable ASCII (it goes into logs and
/// Authentication-Results); a message signed by `DKIMSigner` verifies (pass) whatever it holds,
/// unless it starts with a continuation line (which would join our field) or has more header
/// fields than a verifier reads (refused).
func fuzzDKIMSignature(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let tagText = input.field()
    if let list = try? DKIMTagList(parsing: tagText) {
        check(list.tags.count <= DKIMTagList.maxTags, "more tags than the limit")
        check(Set(list.tags.map(\.name)).count == list.tags.count, "a tag twice")
        for tag in list.tags {
            check(tag.name.utf8.first.map { (0x41...0x5A).contains($0 & 0xDF) } ?? false, "tag name \(tag.name.debugDescription)")
            check(!tag.value.utf8.contains(UInt8(ascii: ";")), "';' in the value of \(tag.name)")
        }
        let written = list.tags.map { "\($0.name)=\($0.value)" }.joined(separator: ";")
        let again = try? DKIMTagList(parsing: Array(written.utf8))
        check(again == list, "tag-list written back reads differently: \(written.debugDescription)")
    }
    _ = try? DKIMKeyRecord(parsing: String(decoding: tagText, as: UTF8.self))

    let message = input.rest()
    let record = "v=DKIM1; k=ed25519; p=" + FuzzDKIM.key.publicKeyBase64
    let verifier = DKIMVerifier(clock: { 1_800_000_000 }) { name in
        if name.hasPrefix("t") { throw CancellationError() } // a selector t...: the DNS failing
        return name == "fz._domainkey.domain1.com" ? [record] : []
    }
    let results = FuzzDKIM.blocking { await verifier.verify(message) }
    check(results.count <= DKIMVerifier.defaultMaxSignatures, "\(results.count) results")
    for result in results {
        for text in [result.domain, result.selector, result.algorithm, result.headerB, result.reason, result.authenticationResult] {
            check(text.utf8.allSatisfy { (0x20...0x7E).contains($0) }, "unprintable result text \(text.debugDescription)")
        }
    }
    if let first = message.first, first == 0x20 || first == 0x09 { return }
    let signed: [UInt8]
    do {
        signed = try FuzzDKIM.signer.sign(message)
    } catch DKIMSigner.Error.headerTooLarge {
        check(DKIMMessage(message).fields.count >= DKIMMessage.maxFields - 10, "header too large with fewer fields")
        return
    } catch {
        violated("signing failed: \(error)")
    }
    let mine = FuzzDKIM.blocking { await verifier.verify(signed) }
    check(mine.first?.kind == .pass, "our signature did not verify: \(mine.first?.description ?? "none")")
}

enum FuzzDKIM {
    static let key = try! DKIMPrivateKey(fileText: "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIFUIjhcQrK2OlzG8c3ensSx1owy6e2+x+CnuM60P7MU8\n-----END PRIVATE KEY-----\n")
    static let signer = DKIMSigner(keys: [DKIMSigningKey(domain: "domain1.com", selector: "fz", key: key)], clock: { 1_800_000_000 })

    /// Runs `work` to its end from synchronous code (the fuzzer's callback).
    static func blocking<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
        let done = DispatchSemaphore(value: 0)
        let box = Box<T>()
        Task.detached {
            box.value = await work()
            done.signal()
        }
        done.wait()
        return box.value!
    }

    final class Box<T>: @unchecked Sendable { var value: T? }
}
