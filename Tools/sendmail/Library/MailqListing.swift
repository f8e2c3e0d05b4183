import Foundation
import IPC

/// The queue's listing (queue.list) in sendmail's mailq layout, for `mailstack mailq`, `mailq`
/// and `sendmail -bp`.
public enum MailqListing {
    /// sendmail's layout: id, size, arrival, sender; the last error in parentheses; one
    /// recipient per line. Ages and next attempts in words an operator reads at a glance.
    public static func format(_ entries: [Mailstack_Ipc_QueueEntry], now: Int64) -> String {
        guard !entries.isEmpty else { return "Mail queue is empty\n" }
        var out = "\t\tMail Queue (\(entries.count) request\(entries.count == 1 ? "" : "s"))\n"
        out += "--Q-ID-------- --Size-- ------Age------- -----Sender/Recipient----- (attempts, next)\n"
        for entry in entries {
            let age = duration(now - entry.arrival)
            let next = entry.nextAttempt <= now ? "now" : "in " + duration(entry.nextAttempt - now)
            out += "\(entry.queueID.padding(toLength: 14, withPad: " ", startingAt: 0)) \(leftPad(String(entry.size), 8)) "
            out += "\(age.padding(toLength: 16, withPad: " ", startingAt: 0)) <\(entry.sender)> (\(entry.attempts), \(next))\n"
            if !entry.lastError.isEmpty { out += "                (\(entry.lastError))\n" }
            for recipient in entry.recipients { out += "\t\t\t\t\t <\(recipient)>\n" }
        }
        return out
    }

    public static func duration(_ seconds: Int64) -> String {
        let s = max(0, seconds)
        if s >= 86400 { return "\(s / 86400)d \(s % 86400 / 3600)h" }
        if s >= 3600 { return "\(s / 3600)h \(s % 3600 / 60)m" }
        if s >= 60 { return "\(s / 60)m \(s % 60)s" }
        return "\(s)s"
    }

    static func leftPad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }
}
