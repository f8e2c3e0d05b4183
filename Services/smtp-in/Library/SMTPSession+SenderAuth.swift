import IPC
import Logging
import SenderAuth

/// Sender authentication at DATA (issue 21): SPF asked of relay-policy when the 354 goes out
/// (it runs while the message arrives), DKIM and DMARC at the final dot, the verdict as
/// Authentication-Results: and, under policy.dmarc enforce, a 550 5.7.1 or a quarantine mark.
extension SMTPSession {
    struct SenderAuthVerdict {
        /// Authentication-Results: (and X-Mailstack-Quarantine: when quarantined), CRLF-ended.
        var header: String
        var disposition: DMARCDisposition
        var log: String
    }

    /// relay-policy's SPF check and relay permission, started at DATA; nil when not configured.
    func startSenderAuth(sender: String) -> Task<Mailstack_Ipc_PolicyAuthReply?, Never>? {
        guard let settings = environment.senderAuth, let ask = environment.peers.auth else { return nil }
        let question = Mailstack_Ipc_PolicyAuth.with {
            $0.client = client
            $0.helo = helo ?? ""
            $0.sender = sender
            $0.spf = settings.spf
        }
        let logger = self.logger
        return Task {
            do {
                return try await ask(question)
            } catch {
                logger.error("[\(question.client.address)]: relay-policy did not answer policy.auth: \(error)")
                return nil
            }
        }
    }

    /// `message`: the message as held (made only when DKIM verifies it).
    func senderAuthVerdict(_ settings: SenderAuthSettings, message: () -> [UInt8], fromFields: [String],
                           auth: Task<Mailstack_Ipc_PolicyAuthReply?, Never>?) async -> SenderAuthVerdict {
        var results = AuthenticationResults(authservID: settings.authservID)
        let reply = await auth?.value
        // relay-policy unreachable: nothing is known about relaying, so nothing is refused.
        let mayRelay = reply?.mayRelay ?? true
        if settings.spf {
            if let reply, let kind = SPFResult.Kind(rawValue: reply.spfResult) {
                results.spf = SPFCheck(identity: reply.spfHelo ? .helo : .mailfrom, sender: reply.spfSender, domain: reply.spfDomain,
                                       result: SPFResult(kind, reply.spfReason))
            } else {
                results.spf = SPFCheck(identity: .mailfrom, sender: "", domain: "", result: SPFResult(.temperror, "relay-policy did not answer"))
            }
        }
        let unavailable: @Sendable (String) async throws -> Mailstack_Ipc_PolicyTxtReply = { _ in throw SenderAuthUnavailable() }
        let resolver = PolicyTXTResolver(lookup: environment.peers.txt ?? unavailable)
        if let verify = settings.verifyDKIM {
            results.dkimChecked = true
            results.dkim = await verify(message(), resolver)
        }
        let from = FromDomain(fields: fromFields)
        var disposition = DMARCDisposition.accept
        if settings.dmarc != .off {
            let dmarc = await DMARCEvaluator(resolver: resolver, suffixes: settings.suffixes)
                .evaluate(from: from, spf: results.spf, dkim: results.dkim)
            results.dmarc = dmarc
            disposition = DMARCDisposition.decide(mode: settings.dmarc, mayRelay: mayRelay, result: dmarc, from: from, draw: settings.draw())
        }
        var header = results.field
        if disposition == .quarantine {
            header += "X-Mailstack-Quarantine: DMARC policy of \(AuthenticationResults.value(results.dmarc?.fromDomain ?? "")) (\(settings.authservID))\r\n"
        }
        var log = "auth:"
        if let spf = results.spf { log += " spf=\(spf.result.kind.rawValue) (\(spf.identity.rawValue) \(DomainName.printable(spf.domain)))" }
        if results.dkimChecked { log += " dkim=" + (results.dkim.isEmpty ? "none" : results.dkim.map { "\($0.result):\(DomainName.printable($0.domain))" }.joined(separator: ",")) }
        if let dmarc = results.dmarc {
            log += " dmarc=\(dmarc.kind.rawValue) from=\(DomainName.printable(dmarc.fromDomain))"
            if let policy = dmarc.policy { log += " p=\(policy.rawValue)" }
            log += " disposition=\(disposition.rawValue)\(mayRelay ? " (client may relay)" : "")"
        }
        return SenderAuthVerdict(header: header, disposition: disposition, log: log)
    }
}

struct SenderAuthUnavailable: Error {}
