import SMTP

/// RFC 3464 delivery status notifications in sendmail's words: "Returned mail: see transcript for
/// details" for failures, "Warning: could not send message for past 1 hour" for delays, and a
/// return receipt for NOTIFY=SUCCESS. Built as a complete message (CRLF lines) to queue like any
/// other, from the null sender.
public struct DeliveryReport: Sendable {
    public enum Kind: Sendable {
        case failure
        case delay(warnAfter: Duration, returnAfter: Duration)
        case success
    }

    public struct Entry: Equatable, Sendable {
        public var recipient: QueueEnvelope.Recipient
        public var action: String        // failed, delayed, delivered, relayed
        public var status: String        // 5.1.1
        public var diagnostic: String    // "550 5.1.1 User unknown"
        public var remoteMTA: String     // host that answered, if any

        public init(recipient: QueueEnvelope.Recipient, action: String, status: String, diagnostic: String, remoteMTA: String = "") {
            self.recipient = recipient
            self.action = action
            self.status = status
            self.diagnostic = diagnostic
            self.remoteMTA = remoteMTA
        }
    }

    public var kind: Kind
    public var hostname: String
    public var original: QueueEnvelope
    public var entries: [Entry]

    public init(kind: Kind, hostname: String, original: QueueEnvelope, entries: [Entry]) {
        self.kind = kind
        self.hostname = hostname
        self.original = original
        self.entries = entries
    }

    public var subject: String {
        switch kind {
        case .failure: return "Returned mail: see transcript for details"
        case let .delay(warnAfter, _): return "Warning: could not send message for past \(Self.words(warnAfter))"
        case .success: return "Return receipt"
        }
    }

    /// The whole report message. `originalMessage` is the returned message (or its header section
    /// when RET=HDRS, or for a delay warning); CRLF line ends throughout.
    public func message(to recipient: String, id: String, now: Int64, originalMessage: [UInt8]) -> [UInt8] {
        let boundary = "\(id)/\(hostname)"
        let arrival = RFC5322Date.format(original.arrival)
        var head = [
            "From: Mail Delivery Subsystem <MAILER-DAEMON@\(hostname)>",
            "To: <\(recipient)>",
            "Subject: \(subject)",
            "Date: \(RFC5322Date.format(now))",
            "Message-ID: <\(id)@\(hostname)>",
            "Auto-Submitted: auto-replied",
            "MIME-Version: 1.0",
            "Content-Type: multipart/report; report-type=delivery-status;",
            "\tboundary=\"\(boundary)\"",
            "",
            "This is a MIME-encapsulated message",
            "",
            "--\(boundary)",
            "",
        ]
        if case .delay = kind {
            head += [
                "    **********************************************",
                "    **      THIS IS A WARNING MESSAGE ONLY      **",
                "    **  YOU DO NOT NEED TO RESEND YOUR MESSAGE  **",
                "    **********************************************",
                "",
            ]
        }
        head.append("The original message was received at \(arrival)")
        head.append("from \(original.relay)")
        head.append("")
        switch kind {
        case .failure:
            head.append("   ----- The following addresses had permanent fatal errors -----")
        case .delay:
            head.append("   ----- The following addresses had transient non-fatal errors -----")
        case .success:
            head.append("   ----- The following addresses had successful delivery notifications -----")
        }
        for entry in entries {
            head.append("<\(entry.recipient.address)>")
            head.append("    (\(kindWord(entry)): \(entry.diagnostic))")
        }
        head.append("")
        head.append("   ----- Transcript of session follows -----")
        for entry in entries {
            head.append("<\(entry.recipient.address)>... \(transcript(entry))")
        }
        if case let .delay(warnAfter, returnAfter) = kind {
            head.append("Warning: message still undelivered after \(Self.words(warnAfter))")
            head.append("Will keep trying until message is \(Self.words(returnAfter)) old")
        }
        head += ["", "--\(boundary)", "Content-Type: message/delivery-status", "", "Reporting-MTA: dns; \(hostname)"]
        if !original.envid.isEmpty { head.append("Original-Envelope-Id: \(original.envid)") }
        head.append("Arrival-Date: \(arrival)")
        for entry in entries {
            head.append("")
            if !entry.recipient.orcpt.isEmpty { head.append("Original-Recipient: \(entry.recipient.orcpt)") }
            head.append("Final-Recipient: RFC822; \(entry.recipient.address)")
            head.append("Action: \(entry.action)")
            head.append("Status: \(entry.status)")
            if !entry.remoteMTA.isEmpty { head.append("Remote-MTA: DNS; \(entry.remoteMTA)") }
            if !entry.diagnostic.isEmpty { head.append("Diagnostic-Code: SMTP; \(entry.diagnostic)") }
            head.append("Last-Attempt-Date: \(RFC5322Date.format(now))")
            if case let .delay(_, returnAfter) = kind {
                head.append("Will-Retry-Until: \(RFC5322Date.format(original.arrival + Int64(returnAfter.components.seconds)))")
            }
        }
        let full: Bool = {
            if case .failure = kind { return original.ret != .headers }
            return false
        }()
        head += ["", "--\(boundary)", "Content-Type: \(full ? "message/rfc822" : "text/rfc822-headers")", ""]
        // Each element is one line: a CR or LF inside one came from a field (an address, ENVID,
        // ORCPT, a peer's reply) and would start a line, a header field or a MIME part of its own.
        var out = Array((head.map(Self.oneLine).joined(separator: "\r\n") + "\r\n").utf8)
        let returned = full ? originalMessage : Self.headerSection(originalMessage)
        out += returned
        if !(returned.suffix(2) == [0x0D, 0x0A]) { out += [0x0D, 0x0A] }
        out += Array("\r\n--\(boundary)--\r\n".utf8)
        return out
    }

    func kindWord(_ entry: Entry) -> String {
        switch kind {
        case .failure: return "reason"
        case .delay: return "reason"
        case .success: return entry.action
        }
    }

    func transcript(_ entry: Entry) -> String {
        switch kind {
        case .failure: return entry.diagnostic
        case .delay: return "Deferred: \(entry.diagnostic)"
        case .success: return entry.action == "relayed" ? "relayed; expect no further notifications" : "Successfully delivered"
        }
    }

    /// `text` with every CR and LF replaced by a space.
    static func oneLine(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) else { return text }
        return String(decoding: text.utf8.map { $0 == 0x0D || $0 == 0x0A ? 0x20 : $0 }, as: UTF8.self)
    }

    /// The header section of a message: its lines up to, not including, the empty line.
    static func headerSection(_ message: [UInt8]) -> [UInt8] {
        guard let end = HeaderRewriter.endOfHeader(message) else { return message }
        return Array(message[..<(end - 2)])
    }

    /// sendmail's words for durations: "1 hour", "4 hours", "1 day", "90 seconds".
    public static func words(_ duration: Duration) -> String {
        let seconds = duration.components.seconds
        func plural(_ n: Int64, _ unit: String) -> String { "\(n) \(unit)\(n == 1 ? "" : "s")" }
        if seconds % 86400 == 0 { return plural(seconds / 86400, "day") }
        if seconds % 3600 == 0 { return plural(seconds / 3600, "hour") }
        if seconds % 60 == 0 { return plural(seconds / 60, "minute") }
        return plural(seconds, "second")
    }
}
