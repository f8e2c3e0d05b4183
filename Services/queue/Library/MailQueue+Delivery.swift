#if canImport(Glibc)
import Glibc
#endif
import IPC
import IPCTransport
import Logging
import Maildir
import NIOCore
import NIOPosix
import SMTP
import Synchronization
import Timing

/// Delivery: due messages started while there is capacity, each attempt's recipients routed and
/// delivered (Maildirs here, remote ones through smtpfeed-out), the results applied to the
/// message's state, and the DSNs the results call for.
extension MailQueue {
    /// Starts due messages while there is capacity (in `run`'s task group).
    func pump() {
        while inFlight < settings.deliveries, !ready.isEmpty {
            let id = ready.removeFirst()
            guard var entry = entries[id], !entry.inFlight else { continue }
            entry.inFlight = true
            entries[id] = entry
            inFlight += 1
            startContinuation.yield(entry)
        }
    }

    func attempt(_ entry: Entry) async {
        let id = entry.envelope.id
        let outcome = await deliver(entry)
        inFlight -= 1
        if let outcome {
            if outcome.done {
                entries[id] = nil
            } else {
                entries[id]?.state = outcome.state
                entries[id]?.flushed = false
                entries[id]?.inFlight = false
                earliestDue = min(earliestDue, outcome.state.next)
            }
        } else {
            // The attempt could not even be recorded (the spool failed): try again later.
            let next = clock.now() + Int64(settings.minAge.components.seconds)
            entries[id]?.state.next = next
            entries[id]?.inFlight = false
            earliestDue = min(earliestDue, next)
        }
        pump()
    }

    struct Outcome {
        var state: QueueState
        var done: Bool
    }

    /// One attempt for every unfinished recipient, then the reports and the new state.
    nonisolated func deliver(_ entry: Entry) async -> Outcome? {
        let envelope = entry.envelope
        var state = entry.state
        let pending = envelope.recipients.indices.filter { !state.isFinished($0) }
        let body: [UInt8]
        do {
            body = try await spool.body(of: envelope.id, at: entry.location)
        } catch {
            logger.error("\(envelope.id): cannot read the spool file: \(error)")
            return nil
        }
        let started = clock.now()
        let (attempted, targets) = await perform(entry, pending: pending, body: body)

        // Decide, log, then act: reports, the state.
        let now = clock.now()
        let decision = DeliveryDecision.decide(attempted, targets: targets, envelope: envelope, state: state, now: now, timing: timing)
        for (item, stat) in zip(attempted, decision.stats) {
            let recipient = envelope.recipients[item.index], result = item.result
            let orcpt = recipient.orcpt.isEmpty ? "" : ", orcpt=\(recipient.orcpt)"
            // sendmail logs an alias's targets as their own to= with the alias they came from.
            let via = item.target.alias.isEmpty ? "" : ", to=<\(item.target)> (alias \(item.target.alias))"
            logger.info("\(envelope.id): to=<\(recipient.address)>\(orcpt)\(via), delay=\(Self.clock(now - envelope.arrival)), xdelay=\(Self.clock(now - started)), mailer=\(item.mailer), relay=\(result.relay.isEmpty ? "none" : result.relay), dsn=\(result.enhanced), stat=\(stat)")
        }
        for position in decision.discarded {
            logger.error("\(envelope.id): double bounce to <\(envelope.recipients[attempted[position].index].address)> failed too; discarded")
        }

        // Reports first (durable), then the state: a crash in between sends a report twice,
        // never loses one.
        do {
            try await report(.failure, envelope: envelope, notices: decision.failures, body: body, now: now)
            if decision.warnDue {
                try await report(.delay(warnAfter: settings.warnAfter, returnAfter: settings.returnAfter), envelope: envelope,
                                 notices: decision.delays, body: body, now: now)
            }
            try await report(.success, envelope: envelope, notices: decision.successes, body: body, now: now)
        } catch {
            logger.error("\(envelope.id): cannot queue a delivery report: \(error); retrying the message later")
            return nil
        }
        state = decision.apply(to: state, attempted: attempted, now: now, timing: timing)
        let done = envelope.recipients.indices.allSatisfy { state.isFinished($0) }
        do {
            if done {
                try await spool.remove(envelope.id)
                logger.debug("\(envelope.id): done, removed from the spool")
            } else {
                try await spool.write(state, of: envelope.id)
            }
        } catch {
            logger.error("\(envelope.id): cannot record the attempt: \(error)")
            return nil
        }
        return Outcome(state: state, done: done)
    }

    /// A program or file target through local-delivery (never in this process). The message
    /// gets `Delivered-To:` with the envelope recipient first, as Postfix's local(8) and
    /// mlmmj's sendmail setup add it: a list manager reads its own address (list+subscribe@...)
    /// there.
    nonisolated func deliverProgramOrFile(_ envelope: QueueEnvelope, recipient index: Int, target: MailTarget, body: [UInt8]) async -> DeliveryResult {
        let recipient = envelope.recipients[index]
        let job = QueueRouting.LocalJob(queueID: envelope.id, sender: target.sender ?? envelope.sender, recipient: recipient,
                                        target: target, body: Array("Delivered-To: \(recipient.address)\r\n".utf8) + body)
        do {
            return try await routing.deliverLocal(job)
        } catch {
            return DeliveryResult(code: 451, enhanced: "4.3.0", text: "local-delivery unavailable: \(error)", relay: "local", ourSide: true)
        }
    }

    /// Delivers into <maildir_root>/<mailbox>/ (tmp/, fsync, new/): LF line ends as Maildir
    /// readers expect, with sendmail's local mailer's Return-Path: on top.
    nonisolated func deliverLocal(_ envelope: QueueEnvelope, body: [UInt8], mailbox: String, sender: String) async -> DeliveryResult {
        let path = settings.maildirRoot + "/" + mailbox
        do {
            let name = try await pool.runIfActiveHere {
                var data = Array("Return-Path: <\(sender)>\n".utf8)
                data.reserveCapacity(body.count + data.count)
                var i = 0
                while i < body.count {
                    if body[i] == 0x0D, i + 1 < body.count, body[i + 1] == 0x0A {
                        i += 1
                        continue
                    }
                    data.append(body[i])
                    i += 1
                }
                return try Maildir(path: path).deliver(data)
            }
            return DeliveryResult(code: 250, enhanced: "2.0.0", text: "Delivered to \(mailbox) (\(name.prefix { $0 != "," }))", relay: "local")
        } catch {
            logger.error("\(envelope.id): Maildir \(path): \(error)")
            return DeliveryResult(code: 451, enhanced: "4.3.0", text: "Maildir \(mailbox) unavailable", relay: "local")
        }
    }

    /// Queues the reports of `notices`, one per addressee: the message's sender, or a list's
    /// owner for the failures of its members.
    nonisolated func report(_ kind: DeliveryReport.Kind, envelope: QueueEnvelope, notices: [DeliveryDecision.Notice],
                            body: [UInt8], now: Int64) async throws {
        var addressees: [String?] = []
        for notice in notices where !addressees.contains(notice.to) { addressees.append(notice.to) }
        for to in addressees {
            var original = envelope
            if let to { original.sender = to }
            try await report(kind, envelope: original, entries: notices.filter { $0.to == to }.map(\.entry), body: body, now: now)
        }
    }

    /// Queues a report about `entries` to the sender (to postmaster for a message from the null
    /// sender, which is never bounced to anyone else).
    nonisolated func report(_ kind: DeliveryReport.Kind, envelope: QueueEnvelope, entries: [DeliveryReport.Entry],
                            body: [UInt8], now: Int64) async throws {
        guard !entries.isEmpty else { return }
        let to: String
        if envelope.sender.isEmpty {
            guard case .failure = kind else { return }
            to = settings.postmaster + "@" + settings.hostname
        } else {
            to = envelope.sender
        }
        let id = QueueID.make(now: now)
        let report = DeliveryReport(kind: kind, hostname: settings.hostname, original: envelope, entries: entries)
        // A report to postmaster about a bounce carries NOTIFY=NEVER: it is never reported on.
        let notify: DSNNotify = envelope.sender.isEmpty ? .never : []
        try await inject(id: id, sender: "", recipient: to,
                         message: report.message(to: to, id: id, now: now, originalMessage: body), notify: notify)
        logger.info("\(envelope.id): \(id): DSN: \(report.subject)")
    }

    /// "HH:MM:SS", or "D+HH:MM:SS", as sendmail logs delays.
    nonisolated static func clock(_ seconds: Int64) -> String {
        let s = max(0, seconds)
        let hms = "\(String(s / 3600 % 24).leftPadded(to: 2)):\(String(s / 60 % 60).leftPadded(to: 2)):\(String(s % 60).leftPadded(to: 2))"
        return s >= 86400 ? "\(s / 86400)+\(hms)" : hms
    }
}
