/// One final delivery an alias expansion ends in, with where it came from.
public struct AliasDelivery: Hashable, Sendable {
    /// Whose rights a program or file delivery runs with: sendmail runs those named in the
    /// aliases file as its default user, and those named in an :include: file as that file's
    /// owner (the delivery agent checks the file when it delivers).
    public enum RunAs: Hashable, Sendable {
        case defaultUser
        case includeOwner(path: String)
    }

    /// What to deliver to; two deliveries with the same target are the same delivery.
    public enum Target: Hashable, Sendable {
        /// A local mailbox (a passwd-file user).
        case mailbox(String)
        /// A mailbox with an `@`, for routing (virtusertable, relaying) as any recipient.
        case address(String)
        /// `sh -c command`.
        case program(command: String, runAs: RunAs)
        /// Append to this file.
        case file(path: String, runAs: RunAs)
        /// A refusal for this recipient (an `error:` target, an unknown user, a loop, a limit).
        case error(code: Int, enhanced: String, text: String)
    }

    public var target: Target
    /// The target as named (`bob`, `|/usr/bin/prog`, `\root`, `:include:/path`, the expanded
    /// name itself), for logs and bounces: an error says which recipient it is about.
    public var recipient: String
    /// The alias whose list named it (the expanded name itself when that was no alias).
    public var alias: String
    /// The :include: file it was read from, nearest first; nil when it came from the aliases.
    public var include: String?
    /// The envelope sender for this delivery: `owner-LIST@domain` for the innermost list LIST
    /// on its way that has an `owner-LIST` alias; nil keeps the message's sender.
    public var envelopeSender: String?

    public init(target: Target, recipient: String, alias: String, include: String? = nil, envelopeSender: String? = nil) {
        self.target = target
        self.recipient = recipient
        self.alias = alias
        self.include = include
        self.envelopeSender = envelopeSender
    }
}

/// The result of expanding one local name: never empty (a name that ends in nothing is an
/// error delivery: a loop, or an unknown user).
public struct AliasExpansion: Equatable, Sendable {
    /// Each final delivery once, in the order met.
    public var deliveries: [AliasDelivery]
    /// `owner-NAME@domain` when the expanded name has an `owner-NAME` alias (each delivery
    /// carries the sender that applies to it; this is the top list's).
    public var envelopeSender: String?

    public init(deliveries: [AliasDelivery], envelopeSender: String? = nil) {
        self.deliveries = deliveries
        self.envelopeSender = envelopeSender
    }

    /// The targets alone, in order (for tests and logs).
    public var targets: [AliasDelivery.Target] { deliveries.map(\.target) }
}
