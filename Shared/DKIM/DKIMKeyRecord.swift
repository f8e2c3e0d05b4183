import _CryptoExtras
import Crypto
import Foundation

/// A DKIM key record (RFC 6376 3.6.1): `v=DKIM1; k=rsa; h=sha256; t=y:s; p=BASE64`.
public struct DKIMKeyRecord: Sendable, Equatable {
    /// k=: "rsa" (the default) or "ed25519".
    public var keyType: String
    /// h=: acceptable hash algorithms; empty means any.
    public var hashes: [String]
    /// t=y: the domain is testing DKIM.
    public var testing: Bool
    /// t=s: the i= domain must be d= itself, not a subdomain.
    public var strictIdentity: Bool
    /// p= decoded; empty when the key is revoked.
    public var publicKey: [UInt8]

    public enum Error: Swift.Error, Equatable, Sendable, CustomStringConvertible {
        case syntax(DKIMTagList.Error)
        case badVersion
        case noPublicKey
        case badBase64
        case notForEmail

        public var description: String {
            switch self {
            case let .syntax(e): "key record syntax: \(e)"
            case .badVersion: "key record v= is not DKIM1 (or not first)"
            case .noPublicKey: "key record has no p="
            case .badBase64: "key record p= is not base64"
            case .notForEmail: "key record s= does not include email"
            }
        }
    }

    public init(parsing text: String) throws(Error) {
        let list: DKIMTagList
        do { list = try DKIMTagList(parsing: Array(text.utf8)) } catch { throw .syntax(error) }
        if let v = list.value("v") {
            guard v == "DKIM1", list.tags.first?.name == "v" else { throw .badVersion }
        }
        keyType = (list.value("k") ?? "rsa").lowercased()
        hashes = list.value("h", stripped: true).map { $0.split(separator: ":").map { $0.lowercased() } } ?? []
        let flags = list.value("t", stripped: true).map { $0.split(separator: ":").map { $0.lowercased() } } ?? []
        testing = flags.contains("y")
        strictIdentity = flags.contains("s")
        if let services = list.value("s", stripped: true) {
            let names = services.split(separator: ":").map { $0.lowercased() }
            guard names.contains("*") || names.contains("email") else { throw .notForEmail }
        }
        guard let p = list.value("p", stripped: true) else { throw .noPublicKey }
        guard let key = Data(base64Encoded: p) else { throw .badBase64 }
        publicKey = Array(key)
    }

    /// The key for `algorithm`, or why it cannot be used (as a verification result).
    func key(for algorithm: DKIMAlgorithm) -> Result<DKIMPublicKey, DKIMResult.Failure> {
        guard !publicKey.isEmpty else { return .failure(.init(.permerror, "key revoked")) }
        guard keyType == algorithm.keyType else {
            return .failure(.init(.permerror, "key type \(DKIMText.printable(keyType)) does not match a=\(algorithm.rawValue)"))
        }
        guard hashes.isEmpty || hashes.contains("sha256") else { return .failure(.init(.permerror, "key h= excludes sha256")) }
        switch algorithm {
        case .rsaSHA256:
            guard let key = try? _RSA.Signing.PublicKey(unsafeDERRepresentation: publicKey) else {
                // Below 1024 bits the library refuses it too: tell the two apart by size.
                if publicKey.count < 140 { return .failure(.init(.policy, "RSA key shorter than 1024 bits")) }
                return .failure(.init(.permerror, "key p= is not an RSA public key"))
            }
            guard DKIMPublicKey.rsaBits.contains(key.keySizeInBits) else {
                return .failure(.init(.policy, "RSA key of \(key.keySizeInBits) bits (accepted: 1024-4096)"))
            }
            return .success(.rsa(key))
        case .ed25519SHA256:
            guard publicKey.count == 32, let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else {
                return .failure(.init(.permerror, "key p= is not an Ed25519 public key"))
            }
            return .success(.ed25519(key))
        }
    }

    /// The record to publish for `key`: `v=DKIM1; k=rsa; p=...`.
    public static func text(for key: DKIMPrivateKey) -> String {
        "v=DKIM1; k=\(key.algorithm.keyType); p=\(key.publicKeyBase64)"
    }

    /// `text` as the character-strings of a TXT record, each at most 255 octets (RFC 1035
    /// 3.3.14), quoted for a zone file.
    public static func zoneStrings(_ text: String) -> [String] {
        var out: [String] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            out.append("\"" + rest.prefix(255) + "\"")
            rest = rest.dropFirst(255)
        }
        return out
    }
}
