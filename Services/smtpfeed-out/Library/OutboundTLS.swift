import Crypto
import NIOSSL
import Synchronization

/// How mail for one domain must travel: Postfix's per-destination TLS security levels, the
/// three mailstack has.
public enum OutboundTLSPolicy: Hashable, Sendable, CustomStringConvertible {
    /// STARTTLS whenever offered, plaintext otherwise, the certificate not checked: the RFC 3207
    /// practice between MTAs (Postfix's `may`). Keeps passive eavesdroppers out, not an active
    /// attacker, who can strip STARTTLS or present any certificate.
    case opportunistic
    /// `outbound.require_tls`: STARTTLS or no delivery; the chain must lead to a trusted root
    /// and the certificate must name the MX host we connected to (Postfix's `verify`).
    /// The MX name itself comes from DNS, so this trusts DNS (no DNSSEC here).
    case verified
    /// `outbound.tls_fingerprints`: STARTTLS or no delivery; the leaf certificate's SHA-256
    /// must be one of the pins, chain and name are not checked (Postfix's `fingerprint`).
    case pinned(CertificatePins)

    /// Mail is deferred rather than sent without TLS, or over TLS that failed its checks.
    var isMandatory: Bool { self != .opportunistic }

    public var description: String {
        switch self {
        case .opportunistic: return "opportunistic"
        case .verified: return "verified"
        case .pinned: return "pinned"
        }
    }

    /// Connections are reused only by deliveries of the same policy: a connection whose
    /// certificate was not checked must never carry mail that needs one.
    var poolKey: String {
        switch self {
        case .opportunistic, .verified: return description
        case let .pinned(pins): return "pinned:" + pins.fingerprints.sorted().joined(separator: ",")
        }
    }
}

/// The SHA-256 fingerprints of DER certificates a domain's servers may present.
public struct CertificatePins: Hashable, Sendable {
    /// Lowercase hexadecimal, no separators.
    public let fingerprints: Set<String>

    public init(_ fingerprints: some Sequence<String>) {
        self.fingerprints = Set(fingerprints.map { $0.lowercased().filter { $0 != ":" } })
    }

    /// SHA-256 over the certificate's DER encoding, as `openssl x509 -fingerprint -sha256`
    /// computes it (without its colons).
    public static func fingerprint(of certificate: NIOSSLCertificate) throws -> String {
        let digits = Array("0123456789abcdef")
        return String(SHA256.hash(data: try certificate.toDERBytes()).flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
    }
}

/// The TLS client contexts of the three policies, built once each on first use (loading the
/// system trust store costs milliseconds: not something to do per connection).
final class OutboundTLSContexts: Sendable {
    /// A PEM file of CA certificates to trust instead of the system store; nil: the system's
    /// (/etc/ssl/certs, found by BoringSSL's default paths).
    let trustRootsFile: String?
    private let built = Mutex<[String: NIOSSLContext]>([:])

    init(trustRootsFile: String?) {
        self.trustRootsFile = trustRootsFile
    }

    /// What STARTTLSHandler needs to start TLS to `host` under `policy`.
    func setup(for policy: OutboundTLSPolicy, host: String) throws -> STARTTLSHandler.Setup {
        // No SNI and no name check for an address literal: NIOSSL then checks the address.
        let name = FeedRouter.isAddress(host) ? nil : host
        switch policy {
        case .opportunistic:
            return .init(context: try context("opportunistic") { $0.certificateVerification = .none }, serverName: name, pins: nil)
        case .verified:
            return .init(context: try context("verified") { configuration in
                configuration.certificateVerification = .fullVerification
                if let trustRootsFile { configuration.trustRoots = .file(trustRootsFile) }
            }, serverName: name, pins: nil)
        case let .pinned(pins):
            // The pin check replaces BoringSSL's verification; it only runs when verification is
            // on at all (with .none NIOSSL never calls it), and the name is not checked.
            return .init(context: try context("pinned") { $0.certificateVerification = .noHostnameVerification }, serverName: name, pins: pins)
        }
    }

    private func context(_ kind: String, _ configure: (inout TLSConfiguration) -> Void) throws -> NIOSSLContext {
        try built.withLock { contexts in
            if let context = contexts[kind] { return context }
            var configuration = TLSConfiguration.makeClientConfiguration()
            configure(&configuration)
            let context = try NIOSSLContext(configuration: configuration)
            contexts[kind] = context
            return context
        }
    }
}
