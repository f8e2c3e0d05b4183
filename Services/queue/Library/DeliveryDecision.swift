import SMTP

/// What one delivery attempt's results mean for a message, decided without I/O so that it is
/// tested as a table: which recipients are finished, which reports go out (RFC 3461/3464),
/// what the delivery log says, and when the next attempt is.
///
/// | result                         | recipient  | report (when NOTIFY wants it)               |
/// |--------------------------------|------------|---------------------------------------------|
/// | 2xx, delivered here            | delivered  | success, "delivered"                        |
/// | 2xx, relayed, next hop no DSN  | delivered  | success, "relayed" (RFC 3461 5.2.2)         |
/// | 2xx, relayed, NOTIFY passed on | delivered  | none: the next hop reports (5.2.1)          |
/// | 5xx                            | failed     | failure with the reply's status             |
/// | 4xx, message past return_after | failed     | failure, 4.4.7, "message expired"           |
/// | 4xx, past warn_after, not yet warned | deferred | delay (once per message)              |
/// | 4xx                            | deferred   | none; next attempt after min_age, or after peer_retry when our own peer failed |
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

    /// One attempted recipient: its result and how it was delivered ("local", "esmtp", "error").
    public struct Attempted: Sendable {
        public var index: Int
        public var result: DeliveryResult
        public var mailer: String

        public init(index: Int, result: DeliveryResult, mailer: String) {
            self.index = index
            self.result = result
            self.mailer = mailer
        }
    }

    /// Recipients finished by this attempt.
    public var finished: [Int: QueueState.Outcome] = [:]
    public var failures: [DeliveryReport.Entry] = []
    public var delays: [DeliveryReport.Entry] = []
    public var successes: [DeliveryReport.Entry] = []
    /// sendmail's `stat=` for each attempted recipient, by index.
    public var stats: [Int: String] = [:]
    /// A delay warning is due with this attempt (sent once: the state then says warned).
    public var warnDue = false
    /// The last temporary failure, for mailq.
    public var lastError = ""
    /// Some recipient failed for good and nobody is told: a bounce to the null sender whose
    /// report was not asked for (a double bounce), logged and discarded.
    public var discarded: [Int] = []

    public init() {}

    public static func decide(_ attempted: [Attempted], envelope: QueueEnvelope, state: QueueState, now: Int64,
                              timing: Timing) -> DeliveryDecision {
        var decision = DeliveryDecision()
        let age = now - envelope.arrival
        let expired = age >= Int64(timing.returnAfter.components.seconds)
        decision.warnDue = !state.warned && age >= Int64(timing.warnAfter.components.seconds)
        for item in attempted {
            let recipient = envelope.recipients[item.index], result = item.result
            if result.isSuccess {
                decision.finished[item.index] = .delivered
                decision.stats[item.index] = "Sent (\(result.text))"
                if recipient.wants(.success) && !result.dsnPassedOn {
                    decision.successes.append(.init(recipient: recipient, action: item.mailer == "local" ? "delivered" : "relayed",
                                                    status: result.enhanced, diagnostic: result.diagnostic, remoteMTA: remoteMTA(result)))
                }
            } else if result.isPermanent || expired {
                decision.finished[item.index] = .failed
                decision.stats[item.index] = result.isPermanent
                    ? result.diagnostic
                    : "Deferred: \(result.diagnostic); message expired after \(DeliveryReport.words(timing.returnAfter))"
                if recipient.wants(.failure) {
                    decision.failures.append(.init(recipient: recipient, action: "failed", status: result.isPermanent ? result.enhanced : "4.4.7",
                                                   diagnostic: result.diagnostic, remoteMTA: remoteMTA(result)))
                } else if envelope.sender.isEmpty {
                    decision.discarded.append(item.index)
                }
            } else {
                decision.stats[item.index] = "Deferred: \(result.diagnostic)"
                decision.lastError = result.diagnostic
                if decision.warnDue && recipient.wants(.delay) {
                    decision.delays.append(.init(recipient: recipient, action: "delayed", status: result.enhanced,
                                                 diagnostic: result.diagnostic, remoteMTA: remoteMTA(result)))
                }
            }
        }
        return decision
    }

    /// The state after this attempt: finished recipients recorded, the attempt counted, the
    /// warning noted, and the next attempt after min_age (after peer_retry when the failure was
    /// on our side: a peer of ours restarting is retried soon).
    public func apply(to state: QueueState, attempted: [Attempted], now: Int64, timing: Timing) -> QueueState {
        var next = state
        for (index, outcome) in finished { next.finished[index] = outcome }
        next.attempts += 1
        next.lastError = lastError
        if warnDue { next.warned = true }
        let ourSide = attempted.contains { $0.result.ourSide && finished[$0.index] == nil }
        let wait = ourSide ? min(timing.minAge, timing.peerRetry) : timing.minAge
        next.next = now + max(1, Int64(wait.components.seconds))
        return next
    }

    /// The host that answered, for the report's Remote-MTA field ("" for local delivery).
    static func remoteMTA(_ result: DeliveryResult) -> String {
        result.relay == "local" ? "" : String(result.relay.prefix { $0 != " " })
    }
}
