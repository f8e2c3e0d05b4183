import SMTP

/// What one delivery attempt's results mean for a message, decided without I/O so that it is
/// tested as a table: which targets and recipients are finished, which reports go out (RFC
/// 3461/3464) and to whom, what the delivery log says, and when the next attempt is.
///
/// | result                         | target     | report (when NOTIFY wants it)               |
/// |--------------------------------|------------|---------------------------------------------|
/// | 2xx, delivered here            | delivered  | success, "delivered"                        |
/// | 2xx, relayed, next hop no DSN  | delivered  | success, "relayed" (RFC 3461 5.2.2)         |
/// | 2xx, relayed, NOTIFY passed on | delivered  | none: the next hop reports (5.2.1)          |
/// | 2xx, a member of an expanded list | delivered | none; the recipient's one "expanded" report when it is done (6.2.7.3) |
/// | 5xx                            | failed     | failure with the reply's status, to the list's owner when the alias has one |
/// | 4xx, message past return_after | failed     | failure, 4.4.7, "message expired"           |
/// | 4xx, past warn_after, not yet warned | deferred | delay (once per message)              |
/// | 4xx                            | deferred   | none; next attempt after min_age, or after peer_retry when our own peer failed |
///
/// A recipient is finished when every target it resolved to is.
public struct DeliveryDecision: Equatable, Sendable {
    /// The ages and waits the decision depends on (queue.min_age and friends).
    public struct Timing: Equatable, Sendable {
        public var minAge: Duration
        public var warnAfter: Duration
        public var returnAfter: Duration
        public var peerRetry: Duration

        public init(minAge: Duration, warnAfter: Duration, returnAfter: Duration, peerRetry: Duration) {
            self.minAge = minAge
            self.warnAfter = warnAfter
            self.returnAfter = returnAfter
            self.peerRetry = peerRetry
        }
    }

    /// One attempted target of a recipient: its result and how it was delivered ("local",
    /// "esmtp", "prog", "*file*", "error"); `expanded` when the recipient resolved to several.
    public struct Attempted: Sendable {
        public var index: Int
        public var target: MailTarget
        public var result: DeliveryResult
        public var mailer: String
        public var expanded: Bool

        public init(index: Int, target: MailTarget, result: DeliveryResult, mailer: String, expanded: Bool = false) {
            self.index = index
            self.target = target
            self.result = result
            self.mailer = mailer
            self.expanded = expanded
        }
    }

    /// A report's entry and whom it goes to (nil: the message's sender; else a list's owner).
    public struct Notice: Equatable, Sendable {
        public var entry: DeliveryReport.Entry
        public var to: String?
    }

    /// Targets finished by this attempt, by recipient and target key.
    public var finishedTargets: [Int: [String: QueueState.Outcome]] = [:]
    /// Recipients all of whose targets are now finished.
    public var finished: [Int: QueueState.Outcome] = [:]
    public var failures: [Notice] = []
    public var delays: [Notice] = []
    public var successes: [Notice] = []
    /// sendmail's `stat=` for each attempted target, in the order attempted.
    public var stats: [String] = []
    /// A delay warning is due with this attempt (sent once: the state then says warned).
    public var warnDue = false
    /// The last temporary failure, for mailq.
    public var lastError = ""
    /// Failed for good and nobody is told: a bounce to the null sender whose report was not
    /// asked for (a double bounce), logged and discarded; by attempted position.
    public var discarded: [Int] = []

    public init() {}

    /// `targets`: every key each pending recipient resolved to this time (finished ones too).
    public static func decide(_ attempted: [Attempted], targets: [Int: [String]], envelope: QueueEnvelope, state: QueueState,
                              now: Int64, timing: Timing) -> DeliveryDecision {
        var decision = DeliveryDecision()
        let age = now - envelope.arrival
        let expired = age >= Int64(timing.returnAfter.components.seconds)
        decision.warnDue = !state.warned && age >= Int64(timing.warnAfter.components.seconds)
        for (position, item) in attempted.enumerated() {
            let original = envelope.recipients[item.index], result = item.result
            // The DSN names the target (the address it went to) with the original as ORCPT.
            var recipient = original
            if case .remote = item.target.kind, item.target.description != original.address {
                recipient.address = item.target.description
                if recipient.orcpt.isEmpty { recipient.orcpt = "rfc822;" + original.address }
            }
            let to = item.target.sender
            // A list's owner hears of every failure; the sender as NOTIFY says.
            let wants: (DSNNotify) -> Bool = { to != nil ? $0 != .success : original.wants($0) }
            if result.isSuccess {
                decision.finishedTargets[item.index, default: [:]][item.target.key] = .delivered
                decision.stats.append("Sent (\(result.text))")
                if !item.expanded && original.wants(.success) && !result.dsnPassedOn {
                    decision.successes.append(Notice(entry: .init(recipient: recipient, action: item.mailer == "local" ? "delivered" : "relayed",
                                                                  status: result.enhanced, diagnostic: result.diagnostic, remoteMTA: remoteMTA(result)),
                                                     to: nil))
                }
            } else if result.isPermanent || expired {
                decision.finishedTargets[item.index, default: [:]][item.target.key] = .failed
                decision.stats.append(result.isPermanent
                    ? result.diagnostic
                    : "Deferred: \(result.diagnostic); message expired after \(DeliveryReport.words(timing.returnAfter))")
                if wants(.failure) {
                    decision.failures.append(Notice(entry: .init(recipient: recipient, action: "failed", status: result.isPermanent ? result.enhanced : "4.4.7",
                                                                 diagnostic: result.diagnostic, remoteMTA: remoteMTA(result)), to: to))
                } else if envelope.sender.isEmpty && to == nil {
                    decision.discarded.append(position)
                }
            } else {
                decision.stats.append("Deferred: \(result.diagnostic)")
                decision.lastError = result.diagnostic
                if decision.warnDue && wants(.delay) {
                    decision.delays.append(Notice(entry: .init(recipient: recipient, action: "delayed", status: result.enhanced,
                                                               diagnostic: result.diagnostic, remoteMTA: remoteMTA(result)), to: to))
                }
            }
        }
        // Recipients whose every target is now finished.
        for (index, keys) in targets {
            let outcomes = keys.map { decision.finishedTargets[index]?[$0] ?? state.targets[index]?[$0] }
            guard outcomes.allSatisfy({ $0 != nil }) else { continue }
            let delivered = outcomes.contains(.delivered)
            decision.finished[index] = delivered ? .delivered : .failed
            let original = envelope.recipients[index]
            if keys.count > 1, delivered, original.wants(.success) {
                decision.successes.append(Notice(entry: .init(recipient: original, action: "expanded", status: "2.0.0",
                                                              diagnostic: "250 2.0.0 expanded to \(keys.count) recipients"), to: nil))
            }
        }
        return decision
    }

    /// The state after this attempt: finished recipients recorded, the attempt counted, the
    /// warning noted, and the next attempt after min_age (after peer_retry when the failure was
    /// on our side: a peer of ours restarting is retried soon).
    public func apply(to state: QueueState, attempted: [Attempted], now: Int64, timing: Timing) -> QueueState {
        var next = state
        for (index, targets) in finishedTargets where finished[index] == nil {
            next.targets[index, default: [:]].merge(targets) { $1 }
        }
        for (index, outcome) in finished {
            next.finished[index] = outcome
            next.targets[index] = nil
        }
        next.attempts += 1
        next.lastError = lastError
        if warnDue { next.warned = true }
        let ourSide = attempted.contains { $0.result.ourSide && finishedTargets[$0.index]?[$0.target.key] == nil }
        let wait = ourSide ? min(timing.minAge, timing.peerRetry) : timing.minAge
        next.next = now + max(1, Int64(wait.components.seconds))
        return next
    }

    /// The host that answered, for the report's Remote-MTA field ("" for local delivery).
    static func remoteMTA(_ result: DeliveryResult) -> String {
        result.relay == "local" ? "" : String(result.relay.prefix { $0 != " " })
    }
}
