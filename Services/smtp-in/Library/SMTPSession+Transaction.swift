import Foundation
import IPC
import IPCTransport
import Listeners
import Logging
import NIOCore
import SMTP
import Synchronization
import Users

/// MAIL and RCPT: the parameters by `MailParameters` / `RcptParameters` (Shared/SMTP), every
/// address put to relay-policy, the pipelined RCPTs of a group asked at once.
extension SMTPSession {
    /// A group of commands that arrived together, answered in order. The relay-policy questions
    /// of its RCPTs are asked at once first (PIPELINING, RFC 2920), so ten recipients cost one
    /// round trip, not ten; an RCPT that turns out not to need its answer (a refused MAIL, a
    /// syntax error) just leaves it unused. Only RCPTs that can count are asked early: inside a
    /// transaction (an earlier MAIL in the group or one already open), up to smtp.max_recipients
    /// and `maxEarlyQuestions` per group, so a flood of RCPTs without MAIL costs relay-policy
    /// nothing.
    mutating func commands(_ lines: [String]) async throws -> Next {
        var early: [Int: Task<Mailstack_Ipc_PolicyVerdict, Error>] = [:]
        if lines.count > 1, connectReject == nil {
            let peers = environment.peers
            let share = environment.policyShare
            let memory = environment.policyMemory
            let client = self.client
            let turn = policyTurn
            var open = transaction != nil
            var counted = transaction?.recipients.count ?? 0
            scan: for (index, line) in lines.enumerated() {
                let command = SMTPCommandLine(line)
                switch command.verb {
                case "AUTH", "STARTTLS": break scan // they change who the client is
                case "MAIL": open = helo != nil; counted = 0
                case "RSET", "HELO", "EHLO": open = false
                case "RCPT":
                    guard open, counted < environment.maxRecipients, early.count < Self.maxEarlyQuestions,
                          let address = rcptAddress(command.argument) else { continue }
                    counted += 1
                    if memory.recipient(address, client: client) != nil { continue } // answered from memory in its turn
                    early[index] = Task { try await share.ask(turn) { try await peers.rcpt(.with { $0.client = client; $0.recipient = address }) } }
                default: continue
                }
            }
        }
        defer { early.values.forEach { $0.cancel() } }
        defer { pipelinedAhead = false }
        for (index, line) in lines.enumerated() {
            pipelinedAhead = index < lines.count - 1
            let outcome = try await command(line, early: early[index])
            if case .close = outcome { return .close }
        }
        return .proceed
    }

    /// RCPT questions asked ahead of their turn in one pipelined group (the rest are asked as
    /// their RCPT is answered).
    static let maxEarlyQuestions = 32

    /// The address an RCPT argument names (as `rcpt` will use it), if it parses.
    func rcptAddress(_ argument: Substring) -> String? {
        guard let path = try? SMTPPath.parse(argument, prefix: "TO"), !path.address.isEmpty else { return nil }
        return path.address.lowercased() == "postmaster" ? "postmaster@\(hostname)" : path.address
    }

    // MARK: MAIL

    mutating func mail(_ argument: Substring) async throws -> Next {
        if let connectReject { try await send(connectReject); return .proceed }
        guard helo != nil else { return try await bad(SMTPReply(503, "5.0.0", "Polite people say HELO first")) }
        guard transaction == nil else { return try await bad(SMTPReply(503, "5.5.0", "Sender already specified")) }
        if submission && authenticatedUser == nil {
            try await reply(530, "5.7.0", "Authentication required")
            return .proceed
        }
        let path: SMTPPath
        let parameters: MailParameters
        do {
            path = try SMTPPath.parse(argument, prefix: "FROM")
        } catch {
            return try await bad(SMTPReply(501, "5.5.2", "Syntax error in parameters scanning \"FROM\""))
        }
        do {
            parameters = try MailParameters.parse(path.parameters, esmtp: esmtp)
        } catch {
            return try await bad(error.reply)
        }
        if parameters.size > UInt64(environment.maxMessageSize) {
            try await reply(552, "5.3.4", "Message size exceeds fixed maximum message size (\(environment.maxMessageSize))")
            return .proceed
        }
        if !parameters.smtputf8 && !path.address.allSatisfy(\.isASCII) {
            try await reply(553, "5.6.7", "<\(path.address)>... Non-ASCII address requires SMTPUTF8")
            return .proceed
        }
        let question = Mailstack_Ipc_PolicyMail.with {
            $0.client = client
            $0.sender = path.address
            $0.size = parameters.size
        }
        let (share, peers, turn, memory) = (environment.policyShare, environment.peers, policyTurn, environment.policyMemory)
        let decision = try await decide("MAIL", unavailable: "Temporary system failure; try again later", {
            if let held = memory.sender(question.sender, size: question.size) { return held }
            let verdict = try await share.ask(turn) { try await peers.mail(question) }
            memory.learn(sender: question.sender, size: question.size, verdict)
            return verdict
        })
        guard case let .accepted(discard) = decision else { return decision.next }
        transaction = Transaction(sender: path.address, parameters: parameters, discard: discard)
        try await reply(250, "2.1.0", "<\(path.address)>... Sender ok")
        return .proceed
    }

    // MARK: RCPT

    mutating func rcpt(_ argument: Substring, early: Task<Mailstack_Ipc_PolicyVerdict, Error>? = nil) async throws -> Next {
        if let connectReject { try await send(connectReject); return .proceed }
        guard var t = transaction else { return try await bad(SMTPReply(503, "5.0.0", "Need MAIL before RCPT")) }
        let path: SMTPPath
        do {
            path = try SMTPPath.parse(argument, prefix: "TO")
        } catch {
            return try await bad(SMTPReply(501, "5.5.2", "Syntax error in parameters scanning \"TO\""))
        }
        guard !path.address.isEmpty else { return try await bad(SMTPReply(553, "5.0.0", "<>... User address required")) }
        let parameters: RcptParameters
        do {
            parameters = try RcptParameters.parse(path.parameters, esmtp: esmtp)
        } catch {
            return try await bad(error.reply)
        }
        // RFC 5321 4.5.1: <postmaster> without a domain must be accepted.
        let recipient = EnvelopeRecipient(address: rcptAddress(argument) ?? path.address, notify: parameters.notify ?? [], orcpt: parameters.orcpt ?? "")
        if !t.parameters.smtputf8 && !recipient.address.allSatisfy(\.isASCII) {
            try await reply(553, "5.6.7", "<\(recipient.address)>... Non-ASCII address requires SMTPUTF8")
            return .proceed
        }
        guard t.recipients.count < environment.maxRecipients else {
            // Not a bad command: RFC 5321 4.5.3.1.10 has the client send the rest in another
            // transaction. relay-policy is not asked for them.
            try await reply(452, "4.5.3", "Too many recipients")
            return .proceed
        }
        let (share, peers, turn, client, memory) = (environment.policyShare, environment.peers, policyTurn, client, environment.policyMemory)
        let question = Mailstack_Ipc_PolicyRcpt.with {
            $0.client = client
            $0.recipient = recipient.address
        }
        let decision = try await decide("RCPT", unavailable: "<\(recipient.address)>... Temporary system failure; try again later", {
            if let held = memory.recipient(question.recipient, client: client) { return held }
            let verdict = if let early, question.client == client { try await early.value }
                else { try await share.ask(turn) { try await peers.rcpt(question) } }
            memory.learn(recipient: question.recipient, client: client, verdict)
            return verdict
        })
        guard case let .accepted(discard) = decision else { return decision.next }
        t.discard = t.discard || discard
        t.recipients.append(recipient)
        transaction = t
        try await reply(250, "2.1.5", "<\(path.address)>... Recipient ok")
        return .proceed
    }

    /// relay-policy's answer to a MAIL or RCPT: accepted (and whether the message is to be
    /// discarded, access DISCARD), or already answered to the client.
    enum Decision {
        case accepted(discard: Bool)
        case answered(Next)

        var next: Next {
            if case let .answered(next) = self { return next }
            return .proceed
        }
    }

    /// Puts a MAIL or RCPT question to relay-policy. A refusal is answered and counted as a bad
    /// command (a client guessing addresses is closed like any other); when relay-policy cannot
    /// be asked, the answer is a 451.
    mutating func decide(_ what: String, unavailable: String,
                         _ ask: () async throws -> Mailstack_Ipc_PolicyVerdict) async throws -> Decision {
        let verdict: Mailstack_Ipc_PolicyVerdict
        do {
            verdict = try await ask()
        } catch {
            logger.error("\(relay): \(what): relay-policy unavailable: \(error)")
            try await reply(451, "4.3.0", unavailable)
            return .answered(.proceed)
        }
        if verdict.action == .reject {
            return .answered(try await bad(SMTPReply(verdict.reply)))
        }
        return .accepted(discard: verdict.action == .discard)
    }
}
