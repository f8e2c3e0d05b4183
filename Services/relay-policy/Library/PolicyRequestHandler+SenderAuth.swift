import IPC
import SenderAuth

/// policy.auth and policy.txt: smtp-in's sender authentication (issue 21). SPF is evaluated
/// here, where DNS already is, with the RFC's limits; DNS trouble is temperror, never a refusal.
extension PolicyRequestHandler {
    func auth(_ question: Mailstack_Ipc_PolicyAuth) async -> Mailstack_Ipc_PolicyAuthReply {
        var reply = Mailstack_Ipc_PolicyAuthReply()
        let client = Self.client(question.client)
        reply.mayRelay = await policy.mayRelay(client)
        guard question.spf else { return reply }
        guard let ip = IPAddress(question.client.address) else {
            reply.spfResult = SPFResult.Kind.none.rawValue
            reply.spfReason = "no client address"
            return reply
        }
        let check = await SPFEvaluator(resolver: SenderAuthDNS(resolver)).check(ip: ip, helo: question.helo, sender: question.sender)
        reply.spfResult = check.result.kind.rawValue
        reply.spfReason = check.result.reason
        reply.spfHelo = check.identity == .helo
        reply.spfSender = check.sender
        reply.spfDomain = check.domain
        return reply
    }

    func txt(_ name: String) async -> Mailstack_Ipc_PolicyTxtReply {
        var reply = Mailstack_Ipc_PolicyTxtReply()
        guard DomainName.isValid(name, multiLabel: false) else {
            reply.status = .failed
            reply.reason = "not a domain name"
            return reply
        }
        do {
            reply.records = try await resolver.txt(name)
        } catch {
            switch error {
            case .nxdomain:
                reply.status = .nxdomain
            case let .temporary(why):
                reply.status = .temporary
                reply.reason = why
            case let .failed(why):
                reply.status = .failed
                reply.reason = why
            }
        }
        return reply
    }
}

extension RelayPolicy {
    /// Whether the client may relay through us (loopback, access RELAY, AUTH, a drac-registry
    /// entry): DMARC enforcement never refuses its mail. drac-registry not answering counts as
    /// "may": enforcement fails open rather than refuse a user's own mail.
    public func mayRelay(_ client: Client) async -> Bool {
        if client.isLoopback || client.relayByAccess || client.authenticated { return true }
        guard settings.drac else { return false }
        do {
            return try await isDracAuthorized(client.address)
        } catch {
            return true
        }
    }
}
