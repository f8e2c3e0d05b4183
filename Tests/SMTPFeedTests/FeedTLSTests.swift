import DNS
import Foundation
import IPC
import Logging
import NIOCore
import SMTP
import SMTPFeedService
import Testing
import TestSupport

/// Outbound TLS against a scripted server on loopback with certificates made for the test: the
/// STARTTLS boundary (CVE-2021-38371 class), require_tls verification (private CA trusted
/// through the feed's test-only trust roots, MX name), pinned fingerprints.
@Suite("smtpfeed-out: outbound TLS", .serialized)
struct FeedTLSTests {
    /// secure.test's MX is mx.secure.test, at 127.0.0.1.
    static let records = ["mx-host=secure.test,mx.secure.test,10", "host-record=mx.secure.test,127.0.0.1"]

    func feed(dns: TestDNSServer, server: ScriptedSMTPServer, certificates: TestCertificates,
              configure: (inout Feed.Settings) -> Void = { _ in }) -> Feed {
        var settings = Feed.Settings()
        settings.hostname = "host.domain.com"
        settings.defaultPort = server.port
        settings.connectTimeout = .seconds(10)
        settings.commandTimeout = .seconds(30)
        settings.trustRootsFile = certificates.trustedRoots
        configure(&settings)
        var logger = Logger(label: "feed")
        logger.logLevel = ProcessInfo.processInfo.environment["FEED_DEBUG"] != nil ? .trace : .critical
        return Feed(settings: settings, resolver: DNSResolver(servers: [DNSResolver.Server(dns.server)!], timeout: .seconds(10)),
                    logger: logger)
    }

    func message(_ recipient: String = "a@secure.test") -> Feed.Message {
        Feed.Message(id: "TLSTEST", sender: "s@client.test", recipients: [EnvelopeRecipient(address: recipient)],
                     body: ByteBuffer(string: "Subject: tls\r\n\r\nbody\r\n"))
    }

    /// A scripted server presenting the certificate at `base`.
    func server(_ certificates: TestCertificates, _ base: String, startTLSReply: String? = nil) async throws -> ScriptedSMTPServer {
        var script = ScriptedSMTPServer.Script(name: "mx.secure.test")
        script.tls = try certificates.serverContext(base)
        if let startTLSReply { script.startTLSReply = startTLSReply }
        return try await ScriptedSMTPServer(script)
    }

    /// The transaction went over TLS, and only over TLS.
    func sentOverTLS(_ server: ScriptedSMTPServer) -> Bool {
        let commands = server.transcript.commands
        return server.transcript.messages.count == 1 && commands.contains { $0.hasPrefix("TLS MAIL FROM:") }
            && !commands.contains { $0.hasPrefix("MAIL") }
    }

    func noMail(_ server: ScriptedSMTPServer) -> Bool {
        server.transcript.messages.isEmpty && !server.transcript.commands.contains { $0.contains("MAIL FROM") }
    }

    @Test("STARTTLS's 220 with a fake reply in the same segment: the connection is dropped and the mail deferred, nothing sent")
    func plaintextAfterSTARTTLS() async throws {
        let certificates = try await TestCertificates()
        let base = try await certificates.server("mx.secure.test", signedBy: "trusted-ca", as: "good")
        let dns = try await TestDNSServer(records: Self.records)
        // Opportunistic and verified alike: the injected "250 fake" must never be read as the
        // reply to the EHLO sent after TLS.
        for requireTLS in [Set<String>(), ["secure.test"]] {
            let server = try await server(certificates, base, startTLSReply: "220 go ahead\r\n250 fake\r\n")
            let f = feed(dns: dns, server: server, certificates: certificates) { $0.requireTLS = requireTLS }
            let result = try #require(await f.deliver(message()).first)
            #expect(result.code == 451 && result.enhanced.hasPrefix("4.7."), "\(result)")
            #expect(result.text.contains("plaintext after the 220 to STARTTLS"), "\(result)")
            #expect(noMail(server))
            #expect(!server.transcript.commands.contains { $0.hasPrefix("TLS ") }, "the connection was dropped before TLS")
            await server.stop()
        }
    }

    @Test("require_tls: a certificate from a trusted CA naming the MX host passes; the mail goes over TLS")
    func verified() async throws {
        let certificates = try await TestCertificates()
        let server = try await server(certificates, try await certificates.server("mx.secure.test", signedBy: "trusted-ca", as: "good"))
        let dns = try await TestDNSServer(records: Self.records)
        let f = feed(dns: dns, server: server, certificates: certificates) { $0.requireTLS = ["secure.test"] }
        let result = await f.deliver(message())
        #expect(result.map(\.code) == [250], "\(result)")
        #expect(sentOverTLS(server))
        await server.stop()
    }

    @Test("require_tls: a certificate for another name, or from a CA not trusted, is deferred with 4.7.5 and nothing is sent")
    func verificationFailures() async throws {
        let certificates = try await TestCertificates()
        let dns = try await TestDNSServer(records: Self.records)
        let cases = [
            ("wrong name", try await certificates.server("other.test", signedBy: "trusted-ca", as: "wrong-name"), "the certificate does not name mx.secure.test"),
            ("untrusted CA", try await certificates.server("mx.secure.test", signedBy: "other-ca", as: "untrusted"), "the certificate is not trusted"),
            ("self-signed", try await certificates.server("mx.secure.test", signedBy: nil, as: "self-signed"), "the certificate is not trusted"),
        ]
        for (label, base, reason) in cases {
            let server = try await server(certificates, base)
            let f = feed(dns: dns, server: server, certificates: certificates) { $0.requireTLS = ["secure.test"] }
            let result = try #require(await f.deliver(message()).first)
            #expect(result.code == 451 && result.enhanced == "4.7.5", "\(label): \(result)")
            #expect(result.text.hasPrefix("TLS with mx.secure.test [127.0.0.1] failed: \(reason)"), "\(label): \(result)")
            #expect(noMail(server), "\(label)")
            await server.stop()
        }
    }

    @Test("opportunistic TLS stays unverified: a self-signed certificate for another name still carries the mail")
    func opportunistic() async throws {
        let certificates = try await TestCertificates()
        let server = try await server(certificates, try await certificates.server("elsewhere.test", signedBy: nil, as: "self-signed"))
        let dns = try await TestDNSServer(records: Self.records)
        let result = await feed(dns: dns, server: server, certificates: certificates).deliver(message())
        #expect(result.map(\.code) == [250], "\(result)")
        #expect(sentOverTLS(server))
        await server.stop()
    }

    @Test("pinned fingerprint: a matching self-signed certificate passes (chain and name not checked); a mismatch is deferred with 4.7.5")
    func pinned() async throws {
        let certificates = try await TestCertificates()
        let base = try await certificates.server("not-the-mx.test", signedBy: nil, as: "pinned")
        let other = try await certificates.server("mx.secure.test", signedBy: "trusted-ca", as: "good")
        let dns = try await TestDNSServer(records: Self.records)
        let server = try await server(certificates, base)
        let pin = try await certificates.fingerprint(base)
        let matching = feed(dns: dns, server: server, certificates: certificates) { $0.tlsFingerprints = ["secure.test": CertificatePins([pin])] }
        let passed = await matching.deliver(message())
        #expect(passed.map(\.code) == [250], "\(passed)")
        #expect(sentOverTLS(server))
        await server.stop()

        // The same pin, a server presenting another certificate: even one a trusted CA issued
        // for the MX name fails.
        let mismatched = try await self.server(certificates, other)
        let pinnedElsewhere = feed(dns: dns, server: mismatched, certificates: certificates) {
            $0.tlsFingerprints = ["secure.test": CertificatePins([pin])]
        }
        let result = try #require(await pinnedElsewhere.deliver(message()).first)
        #expect(result.code == 451 && result.enhanced == "4.7.5", "\(result)")
        #expect(result.text.contains("matches no pinned fingerprint"), "\(result)")
        #expect(noMail(mismatched))
        await mismatched.stop()
    }

    @Test("a connection kept from opportunistic delivery is not reused for a domain that requires verified TLS")
    func noReuseAcrossPolicies() async throws {
        let certificates = try await TestCertificates()
        let server = try await server(certificates, try await certificates.server("mx.secure.test", signedBy: nil, as: "self-signed"))
        let dns = try await TestDNSServer(records: Self.records + ["mx-host=open.test,mx.secure.test,10"])
        let f = feed(dns: dns, server: server, certificates: certificates) { $0.requireTLS = ["secure.test"] }
        #expect(await f.deliver(message("a@open.test")).map(\.code) == [250])
        let result = try #require(await f.deliver(message("a@secure.test")).first)
        #expect(result.code == 451 && result.enhanced == "4.7.5", "\(result)")
        #expect(f.connectionsOpened == 2, "the verified delivery opened its own connection")
        #expect(server.transcript.messages.count == 1)
        await server.stop()
    }
}
