/// Expands one local name through the aliases, with sendmail's rules (alias(), sendtolist(),
/// recipient(), self_reference() and include() in sendmail 8): a pure computation over three
/// closures, so the caller decides where aliases, users and :include: files come from.
///
/// * A bare name that is an alias is expanded again; one that is not is a mailbox when
///   `isMailbox` says so (tried as written, then folded to lower case), else
///   `550 5.1.1 User unknown`. `\name` is the mailbox without expansion.
/// * A name met twice in one expansion is used once; the same final delivery is listed once.
/// * A self-reference (`root: root, admin`) delivers to the name itself as a local user. A
///   longer loop (`a: b`, `b: a`) ends in the first of its names that is a mailbox, the name
///   met again first, then its parents (sendmail's self_reference()); a loop with none ends in
///   nothing. An expansion that ends in nothing at all is `554 5.4.6 aliasing/forwarding loop
///   broken`.
/// * Deeper than `maxDepth` aliases and :include:s: `554 5.4.6` for that target.
/// * `owner-LIST`: the deliveries expanded from LIST get the envelope sender
///   `owner-LIST@domain` (the innermost such list on the way wins); LIST-request and the like
///   are ordinary aliases.
/// * Programs and files may come from the aliases or from an :include: file; those from a file
///   carry its path (`RunAs.includeOwner`): the file's owner's rights decide at delivery.
/// * `lookup` or `isMailbox` throwing is a temporary failure (`451 4.3.0`, sendmail queues); `readInclude`
///   throwing `AliasTemporaryFailure` is `451 4.2.4`, anything else `550 5.2.4`.
public struct AliasExpander: Sendable {
    /// Bounds on one expansion.
    public struct Limits: Equatable, Sendable {
        /// Nesting of aliases and :include:s (sendmail's MaxAliasRecursion, 10 by default).
        /// At most 1000 (the expansion recurses once per level).
        public var maxDepth = 20
        /// :include: files within :include: files.
        public var maxIncludeDepth = 10
        /// Final deliveries of one expansion; one more is `552 5.5.3` and the expansion stops.
        public var maxRecipients = 10_000
        /// Targets examined, duplicates included: the work on lists full of repeats.
        public var maxTargets = 100_000

        public init() {}
    }

    /// The targets of an alias (its name folded to lower case), or nil when it is no alias.
    public typealias Lookup = @Sendable (String) throws -> [AliasTarget]?
    /// Whether a local name is a mailbox (a passwd-file user). Throwing is a temporary
    /// failure (`451 4.3.0`: the users cannot be read now).
    public typealias IsMailbox = @Sendable (String) throws -> Bool
    /// The targets of an :include: file (usually `AliasIncludeFile.read`).
    public typealias ReadInclude = @Sendable (String) throws -> [AliasTarget]

    /// The domain for `owner-LIST@domain`.
    public let domain: String
    public let limits: Limits
    let lookup: Lookup
    let isMailbox: IsMailbox
    let readInclude: ReadInclude

    public init(domain: String, limits: Limits = Limits(), lookup: @escaping Lookup, isMailbox: @escaping IsMailbox,
                readInclude: @escaping ReadInclude = { throw AliasesError.unreadable(path: $0, reason: ":include: is not allowed here") }) {
        precondition((1...1000).contains(limits.maxDepth) && limits.maxIncludeDepth >= 0 && limits.maxRecipients >= 1,
                     "AliasExpander.Limits out of range")
        self.domain = domain
        self.limits = limits
        self.lookup = lookup
        self.isMailbox = isMailbox
        self.readInclude = readInclude
    }

    /// Every final delivery of the local name `name` (never empty).
    public func expand(_ name: String) -> AliasExpansion {
        let top = AliasBytes.fold(name)
        var walk = AliasWalk(expander: self)
        let target: AliasTarget = name.hasPrefix("\\") ? .verbatimLocal(String(name.dropFirst())) : .local(name)
        walk.visit(target, recipient: name, in: AliasWalk.Context(alias: top))
        if walk.deliveries.isEmpty {
            walk.deliveries.append(AliasDelivery(target: .error(code: 554, enhanced: "5.4.6", text: "aliasing/forwarding loop broken"),
                                                 recipient: name, alias: top))
        }
        return AliasExpansion(deliveries: walk.deliveries, envelopeSender: walk.topSender)
    }

    /// Whether `name` is an alias (RCPT's question: an alias that exists is accepted). Throws
    /// when the aliases cannot be read.
    public func isAlias(_ name: String) throws -> Bool {
        try lookup(AliasBytes.fold(name)) != nil
    }

    /// `owner-LIST@domain` when `owner-LIST` is an alias (for `owner-X` itself, `owner-owner`).
    func owner(of list: String) -> String? {
        let name = list.hasPrefix("owner-") ? "owner-owner" : "owner-" + list
        guard (try? lookup(name)) != nil else { return nil } // try? flattens: nil when no alias or unreadable
        return domain.isEmpty ? name : name + "@" + domain
    }

    /// `name` as a mailbox: as written, else folded to lower case; nil when neither is one.
    func mailbox(_ name: String) throws -> String? {
        if try isMailbox(name) { return name }
        let folded = AliasBytes.fold(name)
        return try folded != name && isMailbox(folded) ? folded : nil
    }
}

/// A transient failure to read an :include: file (`451 4.2.4`: the message waits in the queue).
public struct AliasTemporaryFailure: Error, Equatable, Sendable {
    public var reason: String

    public init(_ reason: String) { self.reason = reason }
}
