import Foundation
import NIOSSL
import TestSupport

/// Certificates made with openssl for one test run, in a temporary directory: a private CA the
/// feed is told to trust (never the system store), a second CA it does not trust, and server
/// certificates signed by either or by themselves.
struct TestCertificates {
    let dir: String

    init() async throws {
        dir = try TestSupport.temporaryDirectory("certs")
        for ca in ["trusted-ca", "other-ca"] {
            try await openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                               "-subj", "/CN=mailstack test \(ca)", "-addext", "basicConstraints=critical,CA:TRUE",
                               "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", "\(dir)/\(ca).key", "-out", "\(dir)/\(ca).pem"])
        }
    }

    /// The trusted CA's certificate: what the feed's `trustRootsFile` points at.
    var trustedRoots: String { "\(dir)/trusted-ca.pem" }

    /// A server certificate for `name` (subjectAltName DNS:name) signed by `ca`
    /// ("trusted-ca", "other-ca"), or self-signed when `ca` is nil. Returns its file stem.
    func server(_ name: String, signedBy ca: String?, as stem: String) async throws -> String {
        let base = "\(dir)/\(stem)"
        if let ca {
            try await openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=\(name)",
                               "-keyout", base + ".key", "-out", base + ".csr"])
            try "subjectAltName=DNS:\(name)\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                .write(toFile: base + ".ext", atomically: true, encoding: .utf8)
            try await openssl(["x509", "-req", "-in", base + ".csr", "-CA", "\(dir)/\(ca).pem", "-CAkey", "\(dir)/\(ca).key",
                               "-CAcreateserial", "-days", "2", "-extfile", base + ".ext", "-out", base + ".pem"])
        } else {
            try await openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                               "-subj", "/CN=\(name)", "-addext", "subjectAltName=DNS:\(name)", "-keyout", base + ".key", "-out", base + ".pem"])
        }
        return base
    }

    /// A server TLS context presenting the certificate at `base`.
    func serverContext(_ base: String) throws -> NIOSSLContext {
        try NIOSSLContext(configuration: .makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(base + ".pem").map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: base + ".key", format: .pem))))
    }

    /// The certificate's SHA-256 fingerprint as openssl prints it (`AB:CD:...`): what an
    /// administrator pastes into outbound.tls_fingerprints.
    func fingerprint(_ base: String) async throws -> String {
        let out = try await openssl(["x509", "-noout", "-fingerprint", "-sha256", "-in", base + ".pem"])
        return String(out.split(separator: "=", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @discardableResult
    func openssl(_ arguments: [String]) async throws -> String {
        let run = try await TestSupport.runAsync(["/usr/bin/openssl"] + arguments)
        guard run.status == 0 else { throw POSIXError(.EINVAL) }
        return run.stdout
    }
}
