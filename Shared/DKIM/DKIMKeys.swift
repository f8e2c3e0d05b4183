import Crypto
import _CryptoExtras
import Foundation

/// The signing algorithms we sign and verify with (a= of RFC 6376 3.3 and RFC 8463).
public enum DKIMAlgorithm: String, Sendable, Equatable, CaseIterable {
    case rsaSHA256 = "rsa-sha256"
    case ed25519SHA256 = "ed25519-sha256"

    /// The k= name of the key type.
    public var keyType: String { self == .rsaSHA256 ? "rsa" : "ed25519" }
}

/// A private signing key: RSA (2048 bits and up) or Ed25519.
public enum DKIMPrivateKey: Sendable {
    case rsa(_RSA.Signing.PrivateKey)
    case ed25519(Ed25519Key)

    /// Curve25519.Signing.PrivateKey, an immutable value that swift-crypto does not mark
    /// Sendable.
    public struct Ed25519Key: @unchecked Sendable {
        public let key: Curve25519.Signing.PrivateKey
    }

    public enum Error: Swift.Error, Equatable, Sendable, CustomStringConvertible {
        case unreadable(String)
        case rsaTooSmall(Int)

        public var description: String {
            switch self {
            case let .unreadable(why): "not a private key: \(why)"
            case let .rsaTooSmall(bits): "RSA key of \(bits) bits: signing needs 2048 or more (RFC 8301)"
            }
        }
    }

    /// The DER prefix of an Ed25519 key in PKCS#8 (RFC 8410), as `openssl genpkey -algorithm
    /// ed25519` writes it: the 32-octet seed follows.
    static let ed25519PKCS8Prefix: [UInt8] = [0x30, 0x2E, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]

    /// A key from a key file's text: PEM (PKCS#8 for either algorithm, PKCS#1 `RSA PRIVATE KEY`),
    /// or an Ed25519 seed as base64 of its 32 octets.
    public init(fileText text: String) throws(Error) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if !trimmed.hasPrefix("-----BEGIN") {
            guard let seed = Data(base64Encoded: trimmed), seed.count == 32,
                  let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: seed) else {
                throw .unreadable("neither PEM nor a base64 Ed25519 seed of 32 octets")
            }
            self = .ed25519(Ed25519Key(key: key))
            return
        }
        if trimmed.hasPrefix("-----BEGIN PRIVATE KEY-----"), let der = Self.pemBody(trimmed),
           der.count == 48, Array(der.prefix(16)) == Self.ed25519PKCS8Prefix {
            guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: der.suffix(32)) else {
                throw .unreadable("bad Ed25519 key")
            }
            self = .ed25519(Ed25519Key(key: key))
            return
        }
        let key: _RSA.Signing.PrivateKey
        do {
            key = try _RSA.Signing.PrivateKey(unsafePEMRepresentation: trimmed)
        } catch {
            throw .unreadable("not an RSA or Ed25519 private key in PEM (PKCS#8 or PKCS#1)")
        }
        guard key.keySizeInBits >= 2048 else { throw .rsaTooSmall(key.keySizeInBits) }
        self = .rsa(key)
    }

    /// The DER inside a PEM block.
    static func pemBody(_ pem: String) -> Data? {
        let lines = pem.split(whereSeparator: \.isNewline).filter { !$0.hasPrefix("-----") }
        return Data(base64Encoded: lines.joined())
    }

    public var algorithm: DKIMAlgorithm {
        switch self {
        case .rsa: .rsaSHA256
        case .ed25519: .ed25519SHA256
        }
    }

    /// The p= value to publish: base64 of the SubjectPublicKeyInfo (RSA) or of the raw 32-octet
    /// public key (Ed25519, RFC 8463 4.2).
    public var publicKeyBase64: String {
        switch self {
        case let .rsa(key): key.publicKey.derRepresentation.base64EncodedString()
        case let .ed25519(key): key.key.publicKey.rawRepresentation.base64EncodedString()
        }
    }

    /// The key file text to write for this key: PKCS#8 PEM for both algorithms.
    public var pemRepresentation: String {
        switch self {
        case let .rsa(key): return key.pkcs8PEMRepresentation
        case let .ed25519(key):
            let der = Data(Self.ed25519PKCS8Prefix) + key.key.rawRepresentation
            let body = der.base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
            return "-----BEGIN PRIVATE KEY-----\n\(body)\n-----END PRIVATE KEY-----\n"
        }
    }

    /// Signs SHA-256 of `data`: RSASSA-PKCS1-v1_5 (RSA), or Ed25519 over the 32-octet digest
    /// (RFC 8463 3: the hash is what Ed25519 signs).
    func sign(_ data: [UInt8]) throws -> [UInt8] {
        let digest = SHA256.hash(data: data)
        switch self {
        case let .rsa(key):
            return Array(try key.signature(for: digest, padding: .insecurePKCS1v1_5).rawRepresentation)
        case let .ed25519(key):
            return Array(try key.key.signature(for: Array(digest)))
        }
    }
}

/// A public key from a key record, checked against our bounds.
enum DKIMPublicKey {
    case rsa(_RSA.Signing.PublicKey)
    case ed25519(Curve25519.Signing.PublicKey)

    /// RSA keys verified: RFC 8301 3.2 asks for 1024 bits at least; more than 4096 costs
    /// without adding safety and is refused (policy).
    static let rsaBits = 1024...4096

    func isValid(_ signature: [UInt8], for data: [UInt8]) -> Bool {
        let digest = SHA256.hash(data: data)
        switch self {
        case let .rsa(key):
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: digest, padding: .insecurePKCS1v1_5)
        case let .ed25519(key):
            return key.isValidSignature(signature, for: Array(digest))
        }
    }
}

extension DKIMPrivateKey {
    /// RSA key sizes `generate` makes (RFC 8301: 2048 at least; 4096 the most verifiers take).
    public static let rsaGenerateBits: Set<Int> = [2048, 3072, 4096]

    /// A new key: RSA of `bits` or Ed25519.
    public static func generate(_ algorithm: DKIMAlgorithm, bits: Int = 2048) throws -> DKIMPrivateKey {
        switch algorithm {
        case .rsaSHA256:
            guard rsaGenerateBits.contains(bits) else { throw Error.rsaTooSmall(bits) }
            return .rsa(try _RSA.Signing.PrivateKey(keySize: .init(bitCount: bits)))
        case .ed25519SHA256:
            return .ed25519(Ed25519Key(key: Curve25519.Signing.PrivateKey()))
        }
    }
}
