import SMTP
import Synchronization

/// An attempt's deliveries: the pending recipients resolved by relay-policy into targets, the
/// targets finished in earlier attempts skipped, the rest delivered (Maildirs here, remote
/// addresses through smtpfeed-out one job per envelope sender, programs and files through
/// local-delivery).
extension MailQueue {
    /// A recipient's resolution, or why there is none this time.
    enum Resolved: Sendable {
        case targets([MailTarget])
        case unavailable(String)
    }

    /// Delivers what is due of `pending`; returns what was attempted and every recipient's target
    /// keys (finished ones included), from which the decision tells when a recipient is done.
    nonisolated func perform(_ entry: Entry, pending: [Int], body: [UInt8]) async
        -> (attempted: [DeliveryDecision.Attempted], targets: [Int: [String]]) {
        let envelope = entry.envelope
        let resolved = await resolveAll(pending.map { envelope.recipients[$0].address })
        var attempted: [DeliveryDecision.Attempted] = []
        var keys: [Int: [String]] = [:]
        struct Mailbox: Hashable, Comparable {
            var user: String
            var sender: String
            static func < (a: Mailbox, b: Mailbox) -> Bool { (a.user, a.sender) < (b.user, b.sender) }
        }
        var mailboxes: [Mailbox: [(Int, MailTarget)]] = [:]
        var remotes: [String: [(Int, MailTarget, MailRoute, String)]] = [:]
        var locals: [(Int, MailTarget)] = []
        func record(_ index: Int, _ target: MailTarget, _ result: DeliveryResult, _ mailer: String, expanded: Bool) {
            attempted.append(.init(index: index, target: target, result: result, mailer: mailer, expanded: expanded))
        }
        for (index, resolution) in zip(pending, resolved) {
            guard case let .targets(targets) = resolution, !targets.isEmpty else {
                let why = if case let .unavailable(error) = resolution { error } else { "no targets" }
                keys[index] = ["resolve"]
                record(index, MailTarget(.error(SMTPReply(451, "4.3.0", "routing unavailable: \(why)"))),
                       DeliveryResult(code: 451, enhanced: "4.3.0", text: "routing unavailable: \(why)", ourSide: true), "error", expanded: false)
                continue
            }
            keys[index] = targets.map(\.key)
            let expanded = targets.count > 1
            for target in targets where entry.state.targets[index]?[target.key] == nil {
                switch target.kind {
                case let .mailbox(user): mailboxes[Mailbox(user: user, sender: target.sender ?? envelope.sender), default: []].append((index, target))
                case let .remote(address, route):
                    remotes[target.sender ?? envelope.sender, default: []].append((index, target, route, address))
                case .program, .file: locals.append((index, target))
                case let .error(reply): record(index, target, DeliveryResult(reply), "error", expanded: expanded)
                }
            }
        }
        func isExpanded(_ index: Int) -> Bool { (keys[index]?.count ?? 0) > 1 }
        for (mailbox, items) in mailboxes.sorted(by: { $0.key < $1.key }) {
            let result = await deliverLocal(envelope, body: body, mailbox: mailbox.user, sender: mailbox.sender)
            for (index, target) in items { record(index, target, result, "local", expanded: isExpanded(index)) }
        }
        for (sender, items) in remotes.sorted(by: { $0.key < $1.key }) {
            let answers = await deliverRemote(entry, sender: sender, items: items.map { ($0.0, $0.2, $0.3) }, body: body)
            for ((index, target, _, _), answer) in zip(items, answers) { record(index, target, answer, "esmtp", expanded: isExpanded(index)) }
        }
        for (index, target) in locals {
            let result = await deliverProgramOrFile(envelope, recipient: index, target: target, body: body)
            record(index, target, result, target.isProgram ? "prog" : "*file*", expanded: isExpanded(index))
        }
        return (attempted, keys)
    }

    /// One smtpfeed-out job for the remote targets of one envelope sender. A recipient's single
    /// target keeps its NOTIFY and ORCPT (the original address when it was rewritten); the
    /// members of an expanded list get neither (RFC 3461 6.2.7.3: the list reports, as "expanded").
    nonisolated func deliverRemote(_ entry: Entry, sender: String, items: [(index: Int, route: MailRoute, address: String)],
                                   body: [UInt8]) async -> [DeliveryResult] {
        let envelope = entry.envelope
        var job = envelope
        job.sender = sender
        job.recipients = items.map { item in
            var recipient = envelope.recipients[item.index]
            if sender != envelope.sender {
                recipient = EnvelopeRecipient(address: item.address)
            } else {
                if recipient.orcpt.isEmpty, item.address != recipient.address { recipient.orcpt = "rfc822;" + recipient.address }
                recipient.address = item.address
            }
            return recipient
        }
        do {
            let answers = try await routing.deliverRemote(.init(envelope: job, routes: items.map(\.route), body: body, ignoreBackoff: entry.flushed))
            if answers.count == items.count { return answers }
            return items.map { _ in DeliveryResult(code: 451, enhanced: "4.3.0", text: "smtpfeed-out answered \(answers.count) results for \(items.count) recipients") }
        } catch {
            return items.map { _ in DeliveryResult(code: 451, enhanced: "4.4.1", text: "remote delivery unavailable: \(error)", ourSide: true) }
        }
    }

    /// Every recipient's targets, asked of relay-policy concurrently; a failure to ask is a
    /// temporary failure of that recipient. (The answers are gathered in a locked array:
    /// returned as task-group results they crashed release builds under load with an
    /// out-of-range index, seen in bench/feed/run.sh with Swift 6.3.1; not understood further.)
    nonisolated func resolveAll(_ addresses: [String]) async -> [Resolved] {
        if addresses.count == 1 {
            do { return [.targets(try await routing.resolve(addresses[0]))] } catch { return [.unavailable("\(error)")] }
        }
        let slots = Slots<Resolved>(count: addresses.count)
        await withDiscardingTaskGroup { group in
            for (i, address) in addresses.enumerated() {
                group.addTask {
                    let resolved: Resolved
                    do { resolved = .targets(try await self.routing.resolve(address)) } catch { resolved = .unavailable("\(error)") }
                    slots.values.withLock { $0[i] = resolved }
                }
            }
        }
        return slots.values.withLock { $0.map { $0 ?? .unavailable("cancelled") } }
    }
}

/// Answers of concurrent questions, filled in by index.
final class Slots<Value: Sendable>: Sendable {
    let values: Mutex<[Value?]>
    init(count: Int) { values = Mutex(Array(repeating: nil, count: count)) }
}

extension MailTarget {
    var isProgram: Bool { if case .program = kind { true } else { false } }
}
