import DKIM
import SenderAuth

extension SenderAuthSettings {
    /// Shared/DKIM's verifier as the DKIM hook: every DKIM-Signature of the message (the first
    /// five) checked with keys through the TXT resolver (relay-policy's `policy.txt`). A key
    /// name that does not exist is no key (permerror); a lookup that cannot be answered now is
    /// temperror, never fail.
    public static let dkimVerifier: @Sendable ([UInt8], any TXTResolver) async -> [DKIMOutcome] = { message, resolver in
        let verifier = DKIMVerifier { name in
            do {
                return try await resolver.txt(name)
            } catch {
                if case let .temporary(why)? = error as? DNSLookupError { throw DKIMKeyUnavailable(reason: why) }
                return []
            }
        }
        return await verifier.verify(message).map { DKIMOutcome(domain: $0.domain, selector: $0.selector, result: $0.kind.rawValue) }
    }
}

struct DKIMKeyUnavailable: Error {
    var reason: String
}
