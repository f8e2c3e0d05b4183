import Crypto
import DKIM
import Foundation

/// Fixtures and small helpers of the DKIM tests.
enum DKIMTesting {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func fixture(_ name: String) -> [UInt8] {
        Array((try? Data(contentsOf: fixtures.appendingPathComponent(name))) ?? Data())
    }

    static func text(_ name: String) -> String { String(decoding: fixture(name), as: UTF8.self) }

    static func key(_ name: String) throws -> DKIMPrivateKey { try DKIMPrivateKey(fileText: text(name)) }

    static func sha256(_ s: String) -> String { Data(SHA256.hash(data: Array(s.utf8))).base64EncodedString() }

    /// The body hash a relaxed/relaxed signature by our signer states for `body`.
    static func bodyHash(_ body: String, _ canonicalization: DKIMCanonicalization) -> String {
        DKIMCanonicalization.testBodyHash(Array(body.utf8), canonicalization)
    }

    /// A DNS stand-in: name -> TXT records; a name in `failing` throws (SERVFAIL, timeout).
    static func lookup(_ records: [String: [String]], failing: Set<String> = []) -> DKIMVerifier.KeyLookup {
        { name in
            if failing.contains(name) { throw LookupFailure() }
            return records[name] ?? []
        }
    }

    struct LookupFailure: Error, CustomStringConvertible { var description: String { "SERVFAIL" } }
}
