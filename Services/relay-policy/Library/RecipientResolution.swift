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
        var address = recipient
        var firstKey: String?
        for _ in 0..<maxHops {
            guard let (user, rawDomain) = Self.split(address) else {
                // A bare local name (a virtusertable right-hand side like "you").
                return RecipientResolution(local(address, recipient: recipient), key: firstKey)
            }
            let domain = rawDomain.lowercased().trimmingTrailingDot()
            guard settings.localDomains.contains(domain) else {
                return RecipientResolution(try remote(address, user: user, domain: domain, recipient: recipient), key: firstKey)
            }
            let match = try virtusers.resolve(user: user, domain: domain)
            if firstKey == nil { firstKey = match?.key }
            switch match?.result {
            case let .error(code, enhanced, text)?:
                return .error(SMTPReply(code, enhanced, "<\(recipient)>... \(text)", reason: "virtusertable \(match!.key)"), key: firstKey)
            case let .local(target)?:
                return RecipientResolution(local(target, recipient: recipient), key: firstKey)
            case let .forward(target)?:
                address = target
            case nil:
                return RecipientResolution(local(String(user.prefix { $0 != "+" }), recipient: recipient), key: firstKey)
            }
        }
        return .error(SMTPReply(554, "5.4.6", "<\(recipient)>... Too many virtusertable hops (loop?)",
                                reason: "more than \(maxHops) forwarding steps"))
    }

    /// A local name: a mailbox, or the User unknown of sendmail's local mailer.
    func local(_ name: String, recipient: String) -> [MailTarget] {
        localUserExists(name) ? [MailTarget(.mailbox(name))]
            : [MailTarget(.error(SMTPReply(550, "5.1.1", "<\(recipient)>... User unknown", reason: "no mailbox \(name)")))]
    }

    /// An address outside the local domains, routed by mailertable.
    func remote(_ address: String, user: String, domain: String, recipient: String) throws -> [MailTarget] {
        guard let match = try mailers?.route(domain) else { return [MailTarget(.remote(address: address, route: .mx))] }
        switch match.route {
        case let .smtp(host, mxLookup, port):
            return [MailTarget(.remote(address: address, route: .smtp(host: host, mxLookup: mxLookup, port: port)))]
        case let .local(target):
            // sendmail's local mailer: "local:" alone keeps the recipient's own local part.
            return local(target.isEmpty ? user : target, recipient: recipient)
        case let .error(code, enhanced, text):
            return [MailTarget(.error(SMTPReply(code, enhanced, text, reason: "mailertable \(match.key)")))]
        }
    }
}
