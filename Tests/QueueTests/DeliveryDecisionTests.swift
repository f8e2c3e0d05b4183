import QueueService
import SMTP
import Testing

/// What an attempt's results mean, as a table: no queue, no spool, no clock but the `now` given.
@Suite("queue: the delivery decision table")
struct DeliveryDecisionTests {
    /// One row: the result of the attempt for one recipient, the message's age and state, and
    /// what must follow.
    struct Row: CustomTestStringConvertible, Sendable {
        var name: String
        var code: Int
        var mailer = "esmtp"
        var dsnPassedOn = false
        var ourSide = false
        var notify: DSNNotify = []
        var sender = "s@x.test"
        var age: Int64 = 0
        var warned = false
        /// nil: deferred.
        var outcome: QueueState.Outcome?
        /// "failed 5.1.1", "delayed 4.4.1", "delivered 2.0.0", "relayed 2.0.0", or nil for none.
        var report: String?
        var warnDue = false
        var discarded = false
        /// Seconds to the next attempt.
        var nextIn: Int64 = 900
        var testDescription: String { name }
    }

    static let timing = DeliveryDecision.Timing(minAge: .seconds(900), warnAfter: .seconds(4 * 3600),
                                                returnAfter: .seconds(5 * 86400), peerRetry: .seconds(10))
    static let hours: Int64 = 3600

    static let rows: [Row] = [
        Row(name: "2xx delivered here, NOTIFY=SUCCESS: a receipt saying delivered", code: 250, mailer: "local", notify: .success,
            outcome: .delivered, report: "delivered 2.0.0"),
        Row(name: "2xx relayed to a next hop without DSN: 'relayed' (RFC 3461 5.2.2)", code: 250, notify: .success,
            outcome: .delivered, report: "relayed 2.0.0"),
        Row(name: "2xx relayed with NOTIFY passed on: the next hop reports, not us (5.2.1)", code: 250, dsnPassedOn: true, notify: .success,
            outcome: .delivered),
        Row(name: "2xx without NOTIFY: no receipt", code: 250, outcome: .delivered),
        Row(name: "5xx: failed, bounced with the reply's status", code: 550, outcome: .failed, report: "failed 5.1.1"),
        Row(name: "5xx with NOTIFY=NEVER: failed, nobody told", code: 550, notify: .never, outcome: .failed),
        Row(name: "5xx of a bounce whose report nobody asked for: a double bounce, discarded", code: 550, notify: .never, sender: "",
            outcome: .failed, discarded: true),
        Row(name: "4xx young: deferred for min_age, no report", code: 451),
        Row(name: "4xx past warn_after, not warned: a delay warning", code: 451, age: 4 * hours, report: "delayed 4.4.1", warnDue: true),
        Row(name: "4xx past warn_after, already warned: no second warning", code: 451, age: 5 * hours, warned: true),
        Row(name: "4xx past warn_after with NOTIFY=FAILURE only: warned state, no report", code: 451, notify: .failure, age: 4 * hours,
            warnDue: true),
        Row(name: "4xx past return_after: failed as expired, 4.4.7", code: 451, age: 5 * 24 * hours, warned: true,
            outcome: .failed, report: "failed 4.4.7"),
        Row(name: "4xx on our side (a peer restarting): retried after peer_retry", code: 451, ourSide: true, nextIn: 10),
        Row(name: "2xx on our side's retry: delivered, nothing waits", code: 250, ourSide: true, outcome: .delivered, nextIn: 900),
    ]

    @Test("each result, age and NOTIFY gives its outcome, report and next attempt", arguments: rows)
    func row(_ row: Row) {
        let now: Int64 = 1_800_000_000
        let enhanced = row.code < 300 ? "2.0.0" : row.code < 500 ? "4.4.1" : "5.1.1"
        var envelope = QueueEnvelope(id: "1xYWV3b1nZkBHG", arrival: now - row.age, sender: row.sender,
                                     recipients: [.init(address: "r@y.test", notify: row.notify)])
        envelope.clientName = "client.test"
        var state = QueueState()
        state.warned = row.warned
        let result = DeliveryResult(code: row.code, enhanced: enhanced, text: "text", relay: row.mailer == "local" ? "local" : "mx.y.test [127.0.0.9]",
                                    ourSide: row.ourSide, dsnPassedOn: row.dsnPassedOn)
        let target = row.mailer == "local" ? MailTarget(.mailbox("r")) : MailTarget(.remote(address: "r@y.test", route: .mx))
        let attempted = [DeliveryDecision.Attempted(index: 0, target: target, result: result, mailer: row.mailer)]
        let decision = DeliveryDecision.decide(attempted, targets: [0: [target.key]], envelope: envelope, state: state, now: now, timing: Self.timing)

        #expect(decision.finished[0] == row.outcome)
        let reports = (decision.failures + decision.delays + decision.successes).map(\.entry)
        #expect(reports.map { "\($0.action) \($0.status)" } == (row.report.map { [$0] } ?? []))
        #expect(decision.warnDue == row.warnDue)
        #expect(decision.discarded == (row.discarded ? [0] : []))
        if let report = reports.first {
            #expect(report.remoteMTA == (row.mailer == "local" ? "" : "mx.y.test"))
        }
        let next = decision.apply(to: state, attempted: attempted, now: now, timing: Self.timing)
        #expect(next.attempts == 1 && next.warned == (row.warned || row.warnDue))
        #expect(next.next == now + row.nextIn)
        #expect(next.lastError == (row.outcome == nil ? "\(row.code) \(enhanced) text" : ""))
    }

    @Test("several recipients: each is decided alone; one temporary failure keeps the message, the rest finish")
    func mixed() {
        let now: Int64 = 1_800_000_000
        let envelope = QueueEnvelope(id: "1xYWV3b1nZkBHG", arrival: now, sender: "s@x.test",
                                     recipients: ["a@y.test", "b@y.test", "c@y.test"].map { .init(address: $0) })
        func remote(_ i: Int) -> MailTarget { MailTarget(.remote(address: envelope.recipients[i].address, route: .mx)) }
        let attempted = [
            DeliveryDecision.Attempted(index: 0, target: remote(0), result: DeliveryResult(code: 250, enhanced: "2.0.0", text: "ok"), mailer: "esmtp"),
            DeliveryDecision.Attempted(index: 1, target: remote(1), result: DeliveryResult(code: 550, enhanced: "5.1.1", text: "unknown"), mailer: "esmtp"),
            DeliveryDecision.Attempted(index: 2, target: remote(2), result: DeliveryResult(code: 421, enhanced: "", text: "busy"), mailer: "esmtp"),
        ]
        let targets = Dictionary(uniqueKeysWithValues: (0..<3).map { ($0, [remote($0).key]) })
        let decision = DeliveryDecision.decide(attempted, targets: targets, envelope: envelope, state: QueueState(), now: now, timing: Self.timing)
        #expect(decision.finished == [0: .delivered, 1: .failed])
        #expect(decision.failures.map(\.entry.recipient.address) == ["b@y.test"])
        #expect(decision.stats[2] == "Deferred: 421 4.0.0 busy")
        #expect(decision.lastError == "421 4.0.0 busy")
    }

    @Test("an alias's list: each target on its own; done ones are remembered, the recipient finishes with the last; failures go to owner-LIST, one 'expanded' receipt")
    func expandedList() {
        let now: Int64 = 1_800_000_000
        let envelope = QueueEnvelope(id: "1xYWV3b1nZkBHG", arrival: now, sender: "poster@x.test",
                                     recipients: [.init(address: "info@domain1.com", notify: [.success, .failure])])
        let owner = "owner-info@domain1.com"
        let you = MailTarget(.mailbox("you"), alias: "info", sender: owner)
        let far = MailTarget(.remote(address: "far@remote.test", route: .mx), alias: "info", sender: owner)
        let gone = MailTarget(.remote(address: "gone@remote.test", route: .mx), alias: "info", sender: owner)
        let keys = [0: [you.key, far.key, gone.key]]
        let first = [
            DeliveryDecision.Attempted(index: 0, target: you, result: DeliveryResult(code: 250, enhanced: "2.0.0", text: "ok", relay: "local"), mailer: "local", expanded: true),
            DeliveryDecision.Attempted(index: 0, target: far, result: DeliveryResult(code: 451, enhanced: "4.4.1", text: "later"), mailer: "esmtp", expanded: true),
            DeliveryDecision.Attempted(index: 0, target: gone, result: DeliveryResult(code: 550, enhanced: "5.1.1", text: "no such user"), mailer: "esmtp", expanded: true),
        ]
        let decision = DeliveryDecision.decide(first, targets: keys, envelope: envelope, state: QueueState(), now: now, timing: Self.timing)
        #expect(decision.finished.isEmpty)
        #expect(decision.finishedTargets == [0: [you.key: .delivered, gone.key: .failed]])
        #expect(decision.failures.map(\.to) == [owner] && decision.failures.map(\.entry.recipient.address) == ["gone@remote.test"])
        #expect(decision.failures.first?.entry.recipient.orcpt == "rfc822;info@domain1.com")
        #expect(decision.successes.isEmpty, "members are not reported one by one")
        let state = decision.apply(to: QueueState(), attempted: first, now: now, timing: Self.timing)
        #expect(state.targets == [0: [you.key: .delivered, gone.key: .failed]] && state.finished.isEmpty)
        #expect(QueueState.parse(ArraySlice(state.serialized())) == state, "the state file keeps the finished targets")

        let retry = [DeliveryDecision.Attempted(index: 0, target: far, result: DeliveryResult(code: 250, enhanced: "2.0.0", text: "ok"), mailer: "esmtp", expanded: true)]
        let last = DeliveryDecision.decide(retry, targets: keys, envelope: envelope, state: state, now: now + 900, timing: Self.timing)
        #expect(last.finished == [0: .delivered])
        #expect(last.successes.map { "\($0.entry.action) \($0.entry.recipient.address) \($0.to ?? "sender")" } == ["expanded info@domain1.com sender"])
        let done = last.apply(to: state, attempted: retry, now: now + 900, timing: Self.timing)
        #expect(done.finished == [0: .delivered] && done.targets.isEmpty)
    }
}
