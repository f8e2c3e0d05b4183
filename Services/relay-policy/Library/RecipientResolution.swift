import SMTP

/// Where a recipient goes after virtusertable: the queue's question at delivery time.
public enum RecipientResolution: Equatable, Sendable {
    /// A local mailbox.
    case local(mailbox: String, key: String?)
    /// An address outside the local domains, for smtpfeed-out.
    case remote(address: String, key: String?)
    /// A permanent or temporary refusal (virtusertable error:, unknown user, a forwarding loop).
    case error(SMTPReply)
}

extension RelayPolicy {
    /// Follows virtusertable from `recipient` until it reaches a local mailbox or an address
    /// outside the local domains. A right-hand side may name an address in another local domain
    /// (`info@domain1.com  info@domain2.tv`); such chains are followed up to `maxHops` times,
    /// so a loop in the table is an error, not a hang.
    public func resolve(_ recipient: String, maxHops: Int = 10) throws -> RecipientResolution {
        var address = recipient
        var firstKey: String?
        for _ in 0..<maxHops {
            guard let (user, rawDomain) = Self.split(address) else {
                // A bare local name (a virtusertable right-hand side like "you").
                return mailbox(address, recipient: recipient, key: firstKey)
            }
            let domain = rawDomain.lowercased().trimmingTrailingDot()
            guard settings.localDomains.contains(domain) else {
                return .remote(address: address, key: firstKey)
            }
            let match = try virtusers.resolve(user: user, domain: domain)
            if firstKey == nil { firstKey = match?.key }
            switch match?.result {
            case let .error(code, enhanced, text)?:
                return .error(SMTPReply(code, enhanced, "<\(recipient)>... \(text)", reason: "virtusertable \(match!.key)"))
            case let .local(target)?:
                return mailbox(target, recipient: recipient, key: firstKey)
            case let .forward(target)?:
                address = target
            case nil:
                return mailbox(String(user.prefix { $0 != "+" }), recipient: recipient, key: firstKey)
            }
        }
        return .error(SMTPReply(554, "5.4.6", "<\(recipient)>... Too many virtusertable hops (loop?)",
                                  reason: "more than \(maxHops) forwarding steps"))
    }

    func mailbox(_ name: String, recipient: String, key: String?) -> RecipientResolution {
        localUserExists(name) ? .local(mailbox: name, key: key)
            : .error(SMTPReply(550, "5.1.1", "<\(recipient)>... User unknown", reason: "no mailbox \(name)"))
    }
}
