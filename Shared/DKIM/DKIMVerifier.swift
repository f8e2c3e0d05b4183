import Foundation

/// Verifies the DKIM signatures of a message (RFC 6376 6, RFC 8463), with keys fetched through
/// an injected lookup, so it knows nothing of DNS:
///
///     let verifier = DKIMVerifier { name in try await resolver.txt(name) }
///     let results = await verifier.verify(messageOctets)  // [] when the message is unsigned
///     header += "Authentication-Results: mx.example; " + results.map(\.authenticationResult).joined(separator: "; ")
///
/// The lookup gets the key's name (`sel._domainkey.example.com`) and returns the TXT records
/// there, each as one string (its character-strings joined). Return `[]` when the name has no
/// TXT record or does not exist (the result is permerror: no key); throw for anything
/// temporary (timeout, SERVFAIL): the result is temperror, never fail.
///
/// Bounds: the first `maxSignatures` DKIM-Signature fields are checked, later ones ignored;
/// RSA keys of 1024-4096 bits; rsa-sha1 is refused (policy, RFC 8301); l= is honoured as the
/// RFC says (the body beyond it is unsigned).
public struct DKIMVerifier: Sendable {
    public typealias KeyLookup = @Sendable (_ name: String) async throws -> [String]

    public static let defaultMaxSignatures = 5

    let lookup: KeyLookup
    let maxSignatures: Int
    let clock: @Sendable () -> Int64

    /// `clock`: seconds since the epoch, for x= (expiry).
    public init(maxSignatures: Int = defaultMaxSignatures,
                clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) },
                lookup: @escaping KeyLookup) {
        self.lookup = lookup
        self.maxSignatures = maxSignatures
        self.clock = clock
    }

    /// One result per DKIM-Signature field checked, top to bottom.
    public func verify(_ message: [UInt8]) async -> [DKIMResult] {
        let parsed = DKIMMessage(message)
        var bodyHashes: [String: [UInt8]] = [:]
        var results: [DKIMResult] = []
        for field in parsed.fields.filter({ $0.lowercasedName == "dkim-signature" }).prefix(maxSignatures) {
            let list = try? DKIMTagList(parsing: field.value)
            let seen = DKIMSignatureField.peek(list)
            var result = DKIMResult(kind: .pass, domain: seen.domain, selector: seen.selector, algorithm: seen.algorithm,
                                    headerB: seen.headerB, reason: "")
            do throws(DKIMResult.Failure) {
                guard let list else { throw .init(.neutral, "signature field syntax") }
                let signature = try DKIMSignatureField(list)
                result.testing = try await check(signature, field: field, in: parsed, bodyHashes: &bodyHashes)
            } catch {
                result.kind = error.kind
                result.reason = error.reason
            }
            results.append(result)
        }
        return results
    }

    /// Checks one parsed signature; returns whether the key is in testing mode, or throws the
    /// result that is not a pass.
    func check(_ signature: DKIMSignatureField, field: DKIMMessage.Field, in message: DKIMMessage,
               bodyHashes: inout [String: [UInt8]]) async throws(DKIMResult.Failure) -> Bool {
        guard let algorithm = signature.algorithm else {
            if signature.algorithmName == "rsa-sha1" { throw .init(.policy, "rsa-sha1 is not accepted (RFC 8301)") }
            throw .init(.neutral, "unknown algorithm \(DKIMText.printable(signature.algorithmName))")
        }
        if let expiry = signature.expiry, expiry < clock() { throw .init(.permerror, "signature expired") }
        let record = try await keyRecord(signature.selector + "._domainkey." + signature.domain)
        if record.strictIdentity, let identity = signature.identityDomain, identity != signature.domain {
            throw .init(.permerror, "key t=s and i= is a subdomain of d=")
        }
        let key = try record.key(for: algorithm).get()
        let cacheKey = "\(signature.bodyCanonicalization.rawValue)/\(signature.bodyLength.map(String.init) ?? "")"
        let bodyHash = bodyHashes[cacheKey] ?? Array(signature.bodyCanonicalization.bodyHash(message.body, limit: signature.bodyLength))
        bodyHashes[cacheKey] = bodyHash
        guard bodyHash == signature.bodyHash else { throw .init(.fail, "body hash did not verify") }
        let input = DKIMHeaderHash.input(fields: message.fields, signed: signature.signedFields,
                                         canonicalization: signature.headerCanonicalization, signatureField: field)
        guard key.isValid(signature.signature, for: input) else { throw .init(.fail, "signature did not verify") }
        return record.testing
    }

    /// The key record at `name`: the first TXT record that reads as one.
    func keyRecord(_ name: String) async throws(DKIMResult.Failure) -> DKIMKeyRecord {
        let records: [String]
        do {
            records = try await lookup(name)
        } catch {
            throw .init(.temperror, "key lookup failed: \(DKIMText.printable(String(describing: error)))")
        }
        guard !records.isEmpty else { throw .init(.permerror, "no key for signature") }
        var firstError: DKIMKeyRecord.Error?
        for text in records.prefix(10) {
            do { return try DKIMKeyRecord(parsing: text) } catch { firstError = firstError ?? error }
        }
        throw .init(.permerror, DKIMText.printable(firstError.map(String.init(describing:)) ?? "no key record", limit: 80))
    }
}
