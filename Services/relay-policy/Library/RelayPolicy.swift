import MailstackAliases
import SMTP

/// relay-policy's decisions: sendmail's check_relay, check_mail and check_rcpt with the seed's
/// Local_check_relay, over the access map, virtusertable and drac.
///
/// The client's name comes from a resolver (`ClientResolve`); whether a client's address is in
/// drac-registry comes from `isDracAuthorized`. Both are given, so the rules can be tested as
/// tables and the service wires real DNS and IPC in.
public struct RelayPolicy: Sendable {
    public struct Settings: Sendable {
        /// The seed's Local_check_relay: refuse clients whose PTR check fails.
        public var ptrCheck = true
        /// Addresses (or IPv4 prefixes like "192.0.2.") exempt from the PTR check.
        public var ptrCheckAllow: [String] = []
        /// Relaying for drac-registry's clients (FEATURE(drac)).
        public var drac = true
        /// Domains this host receives mail for: virtuser-domains and its own names.
        public var localDomains: LocalDomains = []
        public init() {}
    }

    /// A client as the connect decision saw it; smtp-in carries it to the MAIL and RCPT checks.
    public struct Client: Equatable, Sendable {
        public var address: String
        public var resolve: ClientResolve
        /// An access entry (Connect: or bare) said RELAY.
        public var relayByAccess: Bool
        /// Authenticated with SMTP AUTH (the submission listener).
        public var authenticated: Bool

        public init(address: String, resolve: ClientResolve, relayByAccess: Bool = false, authenticated: Bool = false) {
            self.address = address
            self.resolve = resolve
            self.relayByAccess = relayByAccess
            self.authenticated = authenticated
        }

        public var name: String { resolve.clientName(address: address) }
        /// The host itself: 127.0.0.1 and ::1 only. The rest of 127/8 counts as other clients, so
        /// tests can play outside clients from 127.0.0.2 and up.
        public var isLoopback: Bool { address == "127.0.0.1" || address == "::1" }
    }

    public let settings: Settings
    public let access: AccessMap
    public let virtusers: VirtualUserTable
    /// Whether a local user (a mailbox) exists; throwing is "cannot say now" (a 4xx).
    public let localUserExists: @Sendable (String) throws -> Bool
    public let isDracAuthorized: @Sendable (String) async throws -> Bool
    /// Routes for remote domains (nil: MX routing for all).
    public let mailers: MailerTable?
    /// sendmail's aliases for local names (nil: every local name is a mailbox or unknown).
    public let aliases: AliasExpander?
    /// Which contents of the maps, aliases and users the decisions see: it grows whenever any
    /// of them is loaded again (the sum of their load counts; 0 when not told).
    public let generation: @Sendable () -> Int64

    public init(settings: Settings, access: AccessMap, virtusers: VirtualUserTable, mailers: MailerTable? = nil,
                aliases: AliasExpander? = nil,
                localUserExists: @escaping @Sendable (String) throws -> Bool,
                isDracAuthorized: @escaping @Sendable (String) async throws -> Bool,
                generation: @escaping @Sendable () -> Int64 = { 0 }) {
        self.settings = settings
        self.access = access
        self.virtusers = virtusers
        self.mailers = mailers
        self.aliases = aliases
        self.localUserExists = localUserExists
        self.isDracAuthorized = isDracAuthorized
        self.generation = generation
    }

    // MARK: connect (check_relay)

    /// An access OK/RELAY entry admits the client before anything else (and exempts it from the
    /// PTR check); then the PTR check; then REJECT, DISCARD and ERROR entries.
    public func connect(address: String, resolve: ClientResolve) throws -> (PolicyDecision, Client) {
        var client = Client(address: address, resolve: resolve)
        let name: String? = { if case let .ok(n) = resolve { return n } else { return nil } }()
        let match = try access.connect(name: name, address: address)
        switch match?.action {
        case .ok?: return (.accept(relay: false), client)
        case .relay?:
            client.relayByAccess = true
            return (.accept(relay: true), client)
        default: break
        }
        if settings.ptrCheck, !client.isLoopback, !isExemptFromPTRCheck(address) {
            switch resolve {
            case .temp:
                return (.reject(SMTPReply(450, "4.7.1", "Access denied. Cannot resolve PTR record for \(address)",
                                            reason: "PTR lookup temporarily failed")), client)
            case .fail:
                return (.reject(SMTPReply(450, "4.7.1", "Access denied. IP name lookup failed \(client.name)",
                                            reason: "no PTR record")), client)
            case let .forged(forgedName):
                return (.reject(SMTPReply(450, "4.7.1", "Access denied. IP name possibly forged \(forgedName)",
                                            reason: "PTR name does not resolve back to the address")), client)
            case .ok:
                break
            }
        }
        switch match?.action {
        case .reject?:
            return (.reject(SMTPReply(550, "5.7.1", "Access denied", reason: "access \(match!.key) REJECT")), client)
        case .discard?:
            return (.discard, client)
        case let .error(code, enhanced, text)?:
            return (.reject(SMTPReply(code: code, enhanced: enhanced, text, defaultDetail: "7.1", reason: "access \(match!.key) ERROR")), client)
        default:
            return (.accept(relay: client.isLoopback), client)
        }
    }

    func isExemptFromPTRCheck(_ address: String) -> Bool {
        settings.ptrCheckAllow.contains { $0 == address || ($0.hasSuffix(".") && address.hasPrefix($0)) }
    }

    /// sendmail's log line for a rejected connection, which fail2ban's sendmail filters read.
    public static func checkRelayLogLine(client: Client, reply: SMTPReply) -> String {
        "ruleset=check_relay, arg1=\(client.name), arg2=\(client.address), relay=\(client.name) [\(client.address)], reject=\(reply)"
    }

    // MARK: mail (check_mail)

    /// From: access entries for the sender; source routes and %-hacks refused.
    public func mail(sender: String) throws -> PolicyDecision {
        guard !sender.isEmpty else { return .accept(relay: false) } // the null sender (bounces)
        if let problem = Self.backDoor(sender) {
            return .reject(SMTPReply(553, "5.1.7", "<\(sender)>... Sender address invalid", reason: problem))
        }
        guard let (user, domain) = Self.split(sender) else {
            return .reject(SMTPReply(553, "5.1.7", "<\(sender)>... Sender address invalid", reason: "not user@domain"))
        }
        let keys = ["From:\(user)@\(domain)", "\(user)@\(domain)"] + AccessMap.domainKeys(domain, tag: .from) + ["From:\(user)@", "\(user)@"]
        switch try access.decide([keys])?.action {
        case .reject?: return .reject(SMTPReply(550, "5.7.1", "<\(sender)>... Access denied", reason: "access From REJECT"))
        case .discard?: return .discard
        case let .error(code, enhanced, text)?:
            return .reject(SMTPReply(code: code, enhanced: enhanced, text, defaultDetail: "7.1", reason: "access From ERROR"))
        default: return .accept(relay: false)
        }
    }

    // MARK: rcpt (check_rcpt)

    /// Local domains through virtusertable; everything else is relaying, allowed only for
    /// loopback, access RELAY clients, To: RELAY domains, drac clients and authenticated ones.
    public func rcpt(_ recipient: String, client: Client) async throws -> PolicyDecision {
        try await rcptDecision(recipient, client: client).decision
    }

    /// `rcpt`'s decision, and whether it follows from the recipient, the client's address and
    /// flags and the maps alone (so it stands until one of them changes): not when drac was
    /// asked, nor a refusal to relay (its text names how the client's address resolved).
    public func rcptDecision(_ recipient: String, client: Client) async throws -> (decision: PolicyDecision, reusable: Bool) {
        let trusted = client.isLoopback || client.relayByAccess || client.authenticated
        if !trusted, let problem = Self.backDoor(recipient) {
            return (.reject(relayingDenied(recipient, client: client, reason: problem)), false)
        }
        guard let (user, rawDomain) = Self.split(recipient) else {
            return (.reject(SMTPReply(553, "5.1.3", "<\(recipient)>... User address required", reason: "not user@domain")), true)
        }
        let domain = rawDomain.lowercased().trimmingTrailingDot()
        let toKeys = ["To:\(user)@\(domain)"] + AccessMap.domainKeys(domain, tag: .to).filter { $0.hasPrefix("To:") }
        let toMatch = try access.decide([toKeys])
        switch toMatch?.action {
        case .reject?: return (.reject(SMTPReply(550, "5.7.1", "<\(recipient)>... Access denied", reason: "access \(toMatch!.key) REJECT")), true)
        case .discard?: return (.discard, true)
        case let .error(code, enhanced, text)?:
            return (.reject(SMTPReply(code: code, enhanced: enhanced, text, defaultDetail: "7.1", reason: "access \(toMatch!.key) ERROR")), true)
        default: break
        }
        if try settings.localDomains.contains(domain) {
            return (try localRecipient(recipient, user: user, domain: domain), true)
        }
        if trusted || toMatch?.action == .relay { return (.accept(relay: true), true) }
        if settings.drac {
            do {
                if try await isDracAuthorized(client.address) { return (.accept(relay: true), false) }
            } catch {
                // drac-registry cannot answer: the client may be allowed; say so temporarily.
                return (.reject(SMTPReply(451, "4.3.0", "<\(recipient)>... Relaying temporarily unavailable; try again later",
                                            reason: "drac-registry: \(error)")), false)
            }
        }
        return (.reject(relayingDenied(recipient, client: client, reason: "not a local domain; client not authorized to relay")), false)
    }

    func localRecipient(_ recipient: String, user: String, domain: String) throws -> PolicyDecision {
        let match = try virtusers.resolve(user: user, domain: domain)
        switch match?.result {
        case let .error(code, enhanced, text)?:
            return .reject(SMTPReply(code, enhanced, "<\(recipient)>... \(text)", reason: "virtusertable \(match!.key)"))
        case .forward?:
            return .accept(relay: false)
        case let .local(target)?:
            return try isLocalName(target) ? .accept(relay: false)
                : .reject(SMTPReply(550, "5.1.1", "<\(recipient)>... User unknown", reason: "no mailbox or alias \(target)"))
        case nil:
            let local = String(user.prefix { $0 != "+" })
            return try isLocalName(user) || isLocalName(local) ? .accept(relay: false)
                : .reject(SMTPReply(550, "5.1.1", "<\(recipient)>... User unknown", reason: "no mailbox or alias \(local)"))
        }
    }

    /// An alias or a mailbox (sendmail's local mailer takes both).
    func isLocalName(_ name: String) throws -> Bool {
        if try aliases?.isAlias(name) == true { return true }
        return try localUserExists(name)
    }

    /// `550 5.7.1 <rcpt>... Relaying denied`, with sendmail's variants for unresolved clients.
    func relayingDenied(_ recipient: String, client: Client, reason: String) -> SMTPReply {
        let text: String
        switch client.resolve {
        case .fail: text = "<\(recipient)>... Relaying denied. IP name lookup failed [\(client.address)]"
        case let .forged(name): text = "<\(recipient)>... Relaying denied. IP name possibly forged [\(client.address)] (\(name))"
        default: text = "<\(recipient)>... Relaying denied"
        }
        return SMTPReply(550, "5.7.1", text, reason: reason)
    }

    /// Ways to hide a remote address in a local-looking one: source routes (`@a:b@c`), the
    /// %-hack, bang paths, a quoted local part with `@`, `%` or `!`, several `@`, IP literals.
    static func backDoor(_ address: String) -> String? {
        if address.hasPrefix("@") { return "source route" }
        guard let at = address.lastIndex(of: "@") else { return address.contains("!") ? "bang path" : nil }
        let local = address[..<at]
        let domain = address[address.index(after: at)...]
        if local.contains("%") { return "%-hack" }
        if local.contains("!") { return "bang path" }
        if local.contains("@") { return "more than one @" }
        if local.hasPrefix("\"") { return "quoted local part" }
        if domain.hasPrefix("[") { return "IP literal domain" }
        if domain.contains(":") || domain.contains("!") || domain.contains("%") { return "operators in the domain" }
        return nil
    }

    /// "user@domain" -> (user, domain).
    static func split(_ address: String) -> (String, String)? {
        guard let at = address.lastIndex(of: "@"), at != address.startIndex else { return nil }
        let domain = String(address[address.index(after: at)...])
        guard !domain.isEmpty else { return nil }
        return (String(address[..<at]), domain)
    }
}
