import MailstackAliases
import SMTP

/// Where a recipient goes: the queue's question at delivery time, answered once with everything
/// relay-policy knows, so the queue delivers from the answer and smtpfeed-out asks nobody.
public struct RecipientResolution: Equatable, Sendable {
    /// One or more (an alias naming a list); an error is a target of its own.
    public var targets: [MailTarget]
    /// The virtusertable key that matched, for the log.
    public var key: String?

    public init(_ targets: [MailTarget], key: String? = nil) {
        self.targets = targets
        self.key = key
    }

    public static func error(_ reply: SMTPReply, key: String? = nil) -> RecipientResolution {
        RecipientResolution([MailTarget(.error(reply))], key: key)
    }
}

extension RelayPolicy {
    /// Follows virtusertable from `recipient` until it reaches a local name or an address
    /// outside the local domains. A right-hand side may name an address in another local domain
    /// (`info@domain1.com  info@domain2.tv`); such chains are followed up to `maxHops` times,
    /// so a loop in the table is an error, not a hang. A local name ends in a mailbox; a remote
    /// address gets mailertable's route for its domain, and a mailertable `local:user` route
    /// delivers to that user here.
    public func resolve(_ recipient: String, maxHops: Int = 10) throws -> RecipientResolution {
        try resolve(recipient, hops: maxHops)
    }

    /// `hops` bounds virtusertable chains and the addresses aliases name, together.
    func resolve(_ recipient: String, hops maxHops: Int) throws -> RecipientResolution {
        var address = recipient
        var firstKey: String?
        var hops = maxHops
        while hops > 0 {
            hops -= 1
            guard let (user, rawDomain) = Self.split(address) else {
                // A bare local name (a virtusertable right-hand side like "you").
                return RecipientResolution(try local(address, recipient: recipient, hops: hops), key: firstKey)
            }
            let domain = rawDomain.lowercased().trimmingTrailingDot()
            guard try settings.localDomains.contains(domain) else {
                return RecipientResolution(try remote(address, user: user, domain: domain, recipient: recipient, hops: hops), key: firstKey)
            }
            let match = try virtusers.resolve(user: user, domain: domain)
            if firstKey == nil { firstKey = match?.key }
            switch match?.result {
            case let .error(code, enhanced, text)?:
                return .error(SMTPReply(code, enhanced, "<\(recipient)>... \(text)", reason: "virtusertable \(match!.key)"), key: firstKey)
            case let .local(target)?:
                return RecipientResolution(try local(target, recipient: recipient, hops: hops), key: firstKey)
            case let .forward(target)?:
                address = target
            case nil:
                // sendmail's local mailer: user+detail as an alias if it is one, else user.
                let name = try aliases?.isAlias(user) == true ? user : String(user.prefix { $0 != "+" })
                return RecipientResolution(try local(name, recipient: recipient, hops: hops), key: firstKey)
            }
        }
        return .error(SMTPReply(554, "5.4.6", "<\(recipient)>... Too many virtusertable hops (loop?)",
                                reason: "more than \(maxHops) forwarding steps"))
    }

    /// A local name: its alias expansion (mailboxes, addresses resolved again, programs,
    /// files, errors; each target once), else a mailbox, else the User unknown of sendmail's
    /// local mailer.
    func local(_ name: String, recipient: String, hops: Int) throws -> [MailTarget] {
        guard let aliases, try aliases.isAlias(name) else {
            return try localUserExists(name) ? [MailTarget(.mailbox(name))]
                : [MailTarget(.error(SMTPReply(550, "5.1.1", "<\(recipient)>... User unknown", reason: "no mailbox \(name)")))]
        }
        var targets: [MailTarget] = []
        for delivery in aliases.expand(name).deliveries {
            // Lists of addresses that are lists again multiply: one recipient's targets are bounded.
            guard targets.count < Self.maxTargets else {
                targets.append(MailTarget(.error(SMTPReply(552, "5.5.3", "<\(recipient)>... Too many recipients (more than \(Self.maxTargets))")),
                                          alias: delivery.alias))
                break
            }
            let sender = delivery.envelopeSender
            switch delivery.target {
            case let .mailbox(user): targets.append(MailTarget(.mailbox(user), alias: delivery.alias, sender: sender))
            case let .program(command, _): targets.append(MailTarget(.program(command), alias: delivery.alias, sender: sender))
            case let .file(path, _): targets.append(MailTarget(.file(path), alias: delivery.alias, sender: sender))
            case let .error(code, enhanced, text):
                targets.append(MailTarget(.error(SMTPReply(code, enhanced, "<\(recipient)>... \(text)", reason: "alias \(delivery.alias) \(delivery.recipient)")),
                                          alias: delivery.alias, sender: sender))
            case let .address(address):
                // An address in a list goes where it would go as a recipient of its own.
                let inner = hops > 0 ? try resolve(address, hops: hops).targets
                    : [MailTarget(.error(SMTPReply(554, "5.4.6", "<\(address)>... Too many alias and virtusertable hops (loop?)")))]
                for var target in inner {
                    if target.alias.isEmpty { target.alias = delivery.alias }
                    if target.sender == nil { target.sender = sender }
                    targets.append(target)
                }
            }
        }
        var seen = Set<String>()
        return targets.filter { seen.insert($0.key).inserted }
    }

    /// The most targets one recipient resolves to (sendmail's MAXRCPT-like bound on expansion).
    static let maxTargets = 10_000

    /// An address outside the local domains, routed by mailertable.
    func remote(_ address: String, user: String, domain: String, recipient: String, hops: Int) throws -> [MailTarget] {
        guard let match = try mailers?.route(domain) else { return [MailTarget(.remote(address: address, route: .mx))] }
        switch match.route {
        case let .smtp(host, mxLookup, port):
            return [MailTarget(.remote(address: address, route: .smtp(host: host, mxLookup: mxLookup, port: port)))]
        case let .local(target):
            // sendmail's local mailer: "local:" alone keeps the recipient's own local part.
            return try local(target.isEmpty ? user : target, recipient: recipient, hops: hops)
        case let .error(code, enhanced, text):
            return [MailTarget(.error(SMTPReply(code, enhanced, text, reason: "mailertable \(match.key)")))]
        }
    }
}
