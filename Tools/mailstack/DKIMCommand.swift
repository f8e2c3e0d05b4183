import Accounts
import ArgumentParser
import DKIM
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `mailstack dkim keygen DOMAIN SELECTOR`: a new DKIM signing key in a file only its owner may
/// read (0600, created new: an existing file is never replaced), and what to publish and
/// configure for it.
struct DKIMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dkim",
        abstract: "DKIM signing keys.",
        subcommands: [Keygen.self]
    )

    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new signing key and print its DNS record and configuration line.",
            discussion: "The key goes to DIRECTORY/DOMAIN.SELECTOR.key, mode 0600; give it to smtpfeed-out's user (chown mailstack-feed)."
        )

        @Argument(help: "The signing domain (d=), e.g. domain1.com.") var domain: String
        @Argument(help: "The selector (s=), e.g. 2026a.") var selector: String
        @Option(help: "rsa or ed25519.") var algorithm = "rsa"
        @Option(help: "RSA key size: 2048, 3072 or 4096.") var bits = 2048
        @Option(help: "Where the key file is written.") var directory = "/etc/mailstack/dkim"

        func run() throws {
            let domain = domain.lowercased(), selector = selector.lowercased()
            for (what, name) in [("domain", domain), ("selector", selector)] where !Self.isDNSName(name) {
                throw fail(64, "\(what) '\(name.prefix(80))' is not a DNS name (letters, digits, '-', '_' and dots)")
            }
            let chosen: DKIMAlgorithm
            switch algorithm.lowercased() {
            case "rsa", "rsa-sha256": chosen = .rsaSHA256
            case "ed25519", "ed25519-sha256": chosen = .ed25519SHA256
            default: throw fail(64, "--algorithm must be rsa or ed25519")
            }
            if chosen == .rsaSHA256 && !DKIMPrivateKey.rsaGenerateBits.contains(bits) {
                throw fail(64, "--bits must be 2048, 3072 or 4096")
            }
            let key: DKIMPrivateKey
            do { key = try DKIMPrivateKey.generate(chosen, bits: bits) } catch { throw fail(70, "key generation failed: \(error)") }
            let path = (directory.hasSuffix("/") ? String(directory.dropLast()) : directory) + "/\(domain).\(selector).key"
            do { try DKIMKeyFile.write(key, to: path) } catch { throw fail(73, error.description) }
            // The key takes its directory's owner (/etc/mailstack/dkim belongs to mailstack-feed,
            // smtpfeed-out's user), so root's keygen leaves a key smtpfeed-out can read.
            var directoryInfo = stat()
            var owner = "the user who ran keygen"
            if stat(URL(fileURLWithPath: path).deletingLastPathComponent().path, &directoryInfo) == 0 {
                if geteuid() == 0 && directoryInfo.st_uid != 0 && chown(path, directoryInfo.st_uid, directoryInfo.st_gid) != 0 {
                    throw fail(73, "\(path): chown: \(String(cString: strerror(errno)))")
                }
                owner = geteuid() == 0 ? (SystemUser.withID(directoryInfo.st_uid)?.name ?? "uid \(directoryInfo.st_uid)") : owner
            }
            let record = DKIMKeyRecord.text(for: key)
            print("""
                # \(chosen.rawValue) key written to \(path) (mode 0600, owner \(owner));
                # smtpfeed-out's user (mailstack-feed) must own it.
                # Publish this TXT record in the \(domain) zone:
                \(selector)._domainkey.\(domain). IN TXT \(DKIMKeyRecord.zoneStrings(record).joined(separator: " "))
                # Then add to mailstack.yaml (dkim section) and restart smtpfeed-out:
                dkim:
                  keys:
                    - \(domain)=\(selector):\(path)
                """)
        }

        static func isDNSName(_ name: String) -> Bool {
            !name.isEmpty && name.utf8.count <= 253 && name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
                !label.isEmpty && label.count <= 63 && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
            }
        }

        func fail(_ code: Int32, _ message: String) -> ExitCode {
            FileHandle.standardError.write(Data("mailstack dkim keygen: \(message)\n".utf8))
            return ExitCode(code)
        }
    }
}
