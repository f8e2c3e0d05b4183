import IPC
import SenderAuth

/// What smtp-in does about sender authentication (policy.spf, policy.dmarc, policy.authserv_id):
/// SPF is asked of relay-policy when DATA starts, DKIM (when a verifier is wired in) and DMARC
/// are evaluated at the final dot, and the results prepended as Authentication-Results:.
public struct SenderAuthSettings: Sendable {
    public var spf: Bool
    public var dmarc: DMARCDisposition.Mode
    /// The authserv-id (RFC 8601): host.fqdn unless policy.authserv_id says otherwise.
    public var authservID: String
    public var suffixes: PublicSuffixList
    /// A number in 0..<100 for pct= (injected so tests decide it).
    public var draw: @Sendable () -> Int = { Int.random(in: 0..<100) }
    /// The DKIM hook: verifies every DKIM-Signature of the message (header and body, CRLF) with
    /// keys from the TXT resolver. nil: DKIM is not verified (no dkim= in the header) and DMARC
    /// passes on SPF alone. Shared/DKIM's DKIMVerifier goes here.
    public var verifyDKIM: (@Sendable ([UInt8], any TXTResolver) async -> [DKIMOutcome])?

    public init(spf: Bool, dmarc: DMARCDisposition.Mode, authservID: String, suffixes: PublicSuffixList) {
        self.spf = spf
        self.dmarc = dmarc
        self.authservID = authservID
        self.suffixes = suffixes
    }
}

/// TXT lookups through relay-policy (policy.txt): smtp-in itself opens no network socket.
struct PolicyTXTResolver: TXTResolver {
    let lookup: @Sendable (String) async throws -> Mailstack_Ipc_PolicyTxtReply

    func txt(_ name: String) async throws(DNSLookupError) -> [String] {
        let reply: Mailstack_Ipc_PolicyTxtReply
        do {
            reply = try await lookup(name)
        } catch {
            throw .temporary("relay-policy: \(error)")
        }
        switch reply.status {
        case .ok: return reply.records
        case .nxdomain: throw .nxdomain
        case .temporary: throw .temporary(reply.reason)
        default: throw .failed(reply.reason)
        }
    }
}
