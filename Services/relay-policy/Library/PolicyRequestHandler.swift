import DNS
import IPC
import IPCTransport
import Logging
import SMTP

/// relay-policy's IPC requests: connect, mail, rcpt, route. Every question is answered; a
/// failure behind it (a map that cannot be read, DNS or drac-registry down) is a temporary
/// reply, never a permanent one.
public struct PolicyRequestHandler: IPCRequestHandler {
    let policy: RelayPolicy
    let mailers: MailerTable
    let resolver: DNSResolver
    let maxMessageSize: Int
    /// How long smtp-in may give a connect, MAIL or RCPT verdict again without asking (the maps'
    /// check interval: a change to them is seen no sooner by relay-policy itself); see `stamped`.
    let reuse: Duration
    /// This process's mark on its verdicts, so smtp-in tells a restarted relay-policy's maps apart.
    let epoch = UInt64.random(in: 1...UInt64.max)
    let logger: Logger

    public init(policy: RelayPolicy, mailers: MailerTable, resolver: DNSResolver, maxMessageSize: Int, reuse: Duration = .zero,
                logger: Logger) {
        self.policy = policy
        self.mailers = mailers
        self.resolver = resolver
        self.maxMessageSize = maxMessageSize
        self.reuse = reuse
        self.logger = logger
    }

    public func handle(_ request: IPCRequest, stream: IPCBodyStream?) async throws -> IPCBody {
        switch request.body {
        case let .policyConnect(connect):
            return .policyVerdict(await self.connect(connect.address))
        case let .policyMail(mail):
            if mail.size > UInt64(maxMessageSize) {
                return .policyVerdict(Self.verdict(.reject(SMTPReply(552, "5.3.4", "Message size exceeds fixed maximum message size",
                                                                       reason: "SIZE=\(mail.size)"))))
            }
            // check_mail depends on the sender and the access map only.
            return .policyVerdict(stamped(guarded("MAIL", { try policy.mail(sender: mail.sender) }), reuse: reuse))
        case let .policyRcpt(rcpt):
            let client = Self.client(rcpt.client)
            do {
                // Reusable for this client (its address and flags) unless drac decided it or the
                // text names how the client resolved.
                let (decision, reusable) = try await policy.rcptDecision(rcpt.recipient, client: client)
                return .policyVerdict(stamped(Self.verdict(decision), reuse: reusable ? reuse : .zero))
            } catch {
                logger.error("rcpt \(rcpt.recipient) from \(client.address): \(error)")
                return .policyVerdict(stamped(Self.verdict(.reject(SMTPReply(451, "4.3.0", "<\(rcpt.recipient)>... Temporary failure; try again later",
                                                                             reason: "\(error)"))), reuse: .zero))
            }
        case let .policyResolve(resolve):
            return .policyResolution(self.resolve(resolve.recipient))
        case let .policyAuth(auth):
            return .policyAuthReply(await self.auth(auth))
        case let .policyTxt(txt):
            return .policyTxtReply(await self.txt(txt.name))
        default:
            throw IPCHandlerError(.unknownType, "relay-policy does not answer this request")
        }
    }

    /// check_relay. An accepted client's verdict may be reused until its DNS answers expire (and
    /// no longer than `reuse`); a refusal never is, so each refused connection is logged here.
    func connect(_ address: String) async -> Mailstack_Ipc_PolicyVerdict {
        let dns = DNSValidity()
        let start = ContinuousClock.now
        // The host itself is "localhost" without asking DNS (as /etc/hosts would answer).
        let resolve = address == "127.0.0.1" || address == "::1" ? ClientResolve.ok(name: "localhost")
            : await resolver.resolveClient(address, validity: dns)
        do {
            let (decision, client) = try policy.connect(address: address, resolve: resolve)
            var verdict = Self.verdict(decision)
            verdict.client = Self.message(client)
            if let reply = decision.reply {
                verdict.log = RelayPolicy.checkRelayLogLine(client: client, reply: reply)
                logger.notice("\(verdict.log)")
            }
            var lasts = reuse
            if let until = dns.until { lasts = min(lasts, max(.zero, until - start)) }
            let reusable = (verdict.action == .accept || verdict.action == .relay) && resolve != .temp
            return stamped(verdict, reuse: reusable ? lasts : .zero)
        } catch {
            logger.error("connect from \(address): \(error)")
            var verdict = Self.verdict(.reject(SMTPReply(421, "4.3.0", "Temporary failure; try again later", reason: "\(error)")))
            verdict.client = Self.message(RelayPolicy.Client(address: address, resolve: resolve))
            return verdict
        }
    }

    /// `verdict` with the maps it was decided from and how long it may be reused: never a
    /// temporary answer (a 4xx: a map that could not be read, DNS or drac-registry down). (A
    /// reload between the decision and this can stamp a verdict of the old map with the new
    /// generation: it is then held no longer than `reuse` all the same.)
    func stamped(_ verdict: Mailstack_Ipc_PolicyVerdict, reuse: Duration) -> Mailstack_Ipc_PolicyVerdict {
        var verdict = verdict
        verdict.mapsEpoch = epoch
        verdict.mapsGeneration = policy.generation()
        let lasts = verdict.reply.code / 100 == 4 ? .zero : reuse
        verdict.reuseMs = UInt32(clamping: lasts.components.seconds * 1000 + lasts.components.attoseconds / 1_000_000_000_000_000)
        return verdict
    }

    func guarded(_ what: String, _ decide: () throws -> PolicyDecision) -> Mailstack_Ipc_PolicyVerdict {
        do {
            return Self.verdict(try decide())
        } catch {
            logger.error("\(what): \(error)")
            return Self.verdict(.reject(SMTPReply(451, "4.3.0", "Temporary failure; try again later", reason: "\(error)")))
        }
    }

    func resolve(_ recipient: String) -> Mailstack_Ipc_PolicyResolution {
        let resolution: RecipientResolution
        do {
            resolution = try policy.resolve(recipient)
        } catch {
            logger.error("resolve \(recipient): \(error)")
            resolution = .error(SMTPReply(451, "4.3.0", "Temporary failure resolving <\(recipient)>", reason: "\(error)"))
        }
        return .with {
            $0.deliveries = resolution.targets.map(\.ipc)
            $0.key = resolution.key ?? ""
        }
    }

    // MARK: messages

    static func verdict(_ decision: PolicyDecision) -> Mailstack_Ipc_PolicyVerdict {
        var verdict = Mailstack_Ipc_PolicyVerdict()
        switch decision {
        case let .accept(relay): verdict.action = relay ? .relay : .accept
        case .discard: verdict.action = .discard
        case let .reject(reply):
            verdict.action = .reject
            verdict.reply = reply.ipc
        }
        return verdict
    }

    static func message(_ client: RelayPolicy.Client) -> Mailstack_Ipc_PolicyClient {
        .with {
            $0.address = client.address
            $0.relayByAccess = client.relayByAccess
            $0.authenticated = client.authenticated
            switch client.resolve {
            case let .ok(name): $0.resolve = .ok; $0.name = name
            case .fail: $0.resolve = .fail
            case let .forged(name): $0.resolve = .forged; $0.name = name
            case .temp: $0.resolve = .temp
            }
        }
    }

    static func client(_ message: Mailstack_Ipc_PolicyClient) -> RelayPolicy.Client {
        let resolve: ClientResolve
        switch message.resolve {
        case .ok: resolve = .ok(name: message.name)
        case .forged: resolve = .forged(name: message.name)
        case .temp: resolve = .temp
        default: resolve = .fail
        }
        return RelayPolicy.Client(address: message.address, resolve: resolve, relayByAccess: message.relayByAccess,
                                  authenticated: message.authenticated)
    }
}
