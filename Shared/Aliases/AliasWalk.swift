/// One expansion in progress (AliasExpander.expand): what was expanded, included and
/// delivered so far. Recursion is bounded by `Limits.maxDepth`; every alias is expanded and
/// every :include: read at most once, so the work is bounded by the lists themselves.
struct AliasWalk {
    /// Where a target was met: the list naming it and the way down to it.
    struct Context {
        var alias: String
        var include: String?
        var sender: String?
        var depth = 0
        var includeDepth = 0
        var chain: [Link] = []
    }

    /// One step of the way down: an alias expanded, or an :include: file read.
    enum Link: Equatable {
        case alias(String)
        case include(String)
    }

    /// What "the same final delivery" means: the target; for errors, the recipient too (two
    /// unknown users are two errors).
    struct Key: Hashable {
        var target: AliasDelivery.Target
        var recipient: String?
    }

    let expander: AliasExpander
    var deliveries: [AliasDelivery] = []
    var topSender: String?
    private var delivered: Set<Key> = []
    private var expanded: Set<String> = []
    private var included: Set<String> = []
    private var examined = 0
    private var full = false

    init(expander: AliasExpander) { self.expander = expander }

    var limits: AliasExpander.Limits { expander.limits }

    mutating func visit(_ target: AliasTarget, recipient: String, in context: Context) {
        guard !full else { return }
        examined += 1
        if examined > limits.maxTargets {
            return stop(recipient, context, "Too many alias targets (limit \(limits.maxTargets))")
        }
        if context.depth > limits.maxDepth {
            return add(.error(code: 554, enhanced: "5.4.6", text: "aliasing/forwarding loop broken (\(context.depth) aliases deep; \(limits.maxDepth) max)"),
                       recipient, context)
        }
        let runAs = context.include.map { AliasDelivery.RunAs.includeOwner(path: $0) } ?? .defaultUser
        switch target {
        case let .local(name): local(name, recipient, context)
        case let .verbatimLocal(name): deliverLocal(name, recipient, context)
        case let .address(address): add(.address(address), recipient, context)
        case let .program(command): add(.program(command: command, runAs: runAs), recipient, context)
        case let .file(path): add(.file(path: path, runAs: runAs), recipient, context)
        case let .error(code, enhanced, text): add(.error(code: code, enhanced: enhanced, text: text), recipient, context)
        case let .include(path): include(path, recipient, context)
        }
    }

    private mutating func local(_ name: String, _ recipient: String, _ context: Context) {
        let key = AliasBytes.fold(name)
        if context.chain.last == .alias(key) {
            // root: root, admin -- the name itself, as a local user.
            return deliverLocal(name, recipient, context)
        }
        if context.chain.contains(.alias(key)) {
            // A longer loop: the first mailbox among the name and its parents gets the mail.
            do {
                for case let .alias(candidate) in [Link.alias(key)] + context.chain.reversed() {
                    if let box = try expander.mailbox(candidate) { return add(.mailbox(box), candidate, context) }
                }
            } catch {
                add(Self.usersUnavailable, recipient, context)
            }
            return
        }
        if expanded.contains(key) { return } // met before: used once
        let targets: [AliasTarget]?
        do {
            targets = try expander.lookup(key)
        } catch {
            return add(.error(code: 451, enhanced: "4.3.0", text: "alias database unavailable"), recipient, context)
        }
        guard let targets else { return deliverLocal(name, recipient, context) }
        expanded.insert(key)
        var inner = context
        inner.alias = key
        inner.include = nil // the aliases file's own programs run as the default user
        inner.sender = expander.owner(of: key) ?? context.sender
        inner.depth += 1
        inner.chain.append(.alias(key))
        if context.chain.isEmpty { topSender = inner.sender }
        for target in targets { visit(target, recipient: target.description, in: inner) }
    }

    private mutating func include(_ path: String, _ recipient: String, _ context: Context) {
        if context.includeDepth >= limits.maxIncludeDepth {
            return add(.error(code: 554, enhanced: "5.4.6", text: ":include: files nested too deeply (\(limits.maxIncludeDepth) max)"),
                       recipient, context)
        }
        guard included.insert(path).inserted else { return }
        let targets: [AliasTarget]
        do {
            targets = try expander.readInclude(path)
        } catch let failure as AliasTemporaryFailure {
            return add(.error(code: 451, enhanced: "4.2.4", text: "Cannot open \(path): \(failure.reason)"), recipient, context)
        } catch let AliasesError.unreadable(_, reason) {
            return add(.error(code: 550, enhanced: "5.2.4", text: "Cannot open \(path): \(reason)"), recipient, context)
        } catch {
            let reason = String(describing: error).split(separator: "\n").joined(separator: "; ")
            return add(.error(code: 550, enhanced: "5.2.4", text: "Cannot use \(path): \(reason)"), recipient, context)
        }
        var inner = context
        inner.include = path
        inner.depth += 1
        inner.includeDepth += 1
        inner.chain.append(.include(path))
        for target in targets { visit(target, recipient: target.description, in: inner) }
    }

    private mutating func deliverLocal(_ name: String, _ recipient: String, _ context: Context) {
        do {
            if let box = try expander.mailbox(name) {
                add(.mailbox(box), recipient, context)
            } else {
                add(.error(code: 550, enhanced: "5.1.1", text: "User unknown"), recipient, context)
            }
        } catch {
            add(Self.usersUnavailable, recipient, context)
        }
    }

    /// Whether a name is a mailbox could not be said (the users table unreachable).
    static let usersUnavailable = AliasDelivery.Target.error(code: 451, enhanced: "4.3.0", text: "user database unavailable")

    private mutating func add(_ target: AliasDelivery.Target, _ recipient: String, _ context: Context) {
        let isError = if case .error = target { true } else { false }
        guard delivered.insert(Key(target: target, recipient: isError ? recipient : nil)).inserted else { return }
        if deliveries.count >= limits.maxRecipients {
            return stop(recipient, context, "Too many recipients (limit \(limits.maxRecipients))")
        }
        deliveries.append(AliasDelivery(target: target, recipient: recipient, alias: context.alias, include: context.include,
                                        envelopeSender: context.sender))
    }

    /// A limit was reached: one error says so, nothing more is examined.
    private mutating func stop(_ recipient: String, _ context: Context, _ text: String) {
        full = true
        deliveries.append(AliasDelivery(target: .error(code: 552, enhanced: "5.5.3", text: text), recipient: recipient,
                                        alias: context.alias, include: context.include, envelopeSender: context.sender))
    }
}
