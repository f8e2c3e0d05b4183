import Foundation
import IPC
import IPCTransport
import Logging
import NIOCore
import SMTP
import Synchronization

/// One SMTP conversation (RFC 5321 with PIPELINING, SIZE, 8BITMIME, SMTPUTF8, DSN,
/// ENHANCEDSTATUSCODES, STARTTLS and, on the submission listener, AUTH), in sendmail's words.
/// Every connection, MAIL and RCPT is put to relay-policy; the message goes to the queue as it
/// arrives and the 250 is sent only once the queue has it on disk.
struct SMTPSession {
    let environment: SMTPEnvironment
    let address: String
    let output: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let connection: SMTPConnection
    /// The submission listener: AUTH offered after STARTTLS, MAIL only once authenticated.
    let submission: Bool

    var client = Mailstack_Ipc_PolicyClient()
    /// A connect-time refusal: sendmail greets, then answers every transaction command with it.
    var connectReject: SMTPReply?
    var discardAll = false
    var helo: String?
    var esmtp = false
    var tlsActive = false
    var authenticatedUser: String?
    var badCommands = 0
    var transaction: Transaction?
    /// This session's turn in relay-policy's time (`PolicyShare`).
    let policyTurn: UInt64

    struct Transaction {
        var sender: String
        var declaredSize: UInt64 = 0
        var body: Mailstack_Ipc_BodyType = .bodyUnspecified
        var smtputf8 = false
        var ret: Mailstack_Ipc_DSNReturn = .retUnspecified
        var envid = ""
        var recipients: [Mailstack_Ipc_Recipient] = []
        var discard = false
    }

    enum Next {
        case proceed
        case close
    }

    init(environment: SMTPEnvironment, address: String, output: NIOAsyncChannelOutboundWriter<ByteBuffer>,
         connection: SMTPConnection, submission: Bool) {
        self.environment = environment
        self.address = address
        self.output = output
        self.connection = connection
        self.submission = submission
        self.policyTurn = environment.policyShare.session()
    }

    var hostname: String { environment.hostname }
    var logger: Logger { environment.logger }
    /// "name [address]" as sendmail logs and greets a client.
    var relay: String { client.resolve == .ok && !client.name.isEmpty ? "\(client.name) [\(address)]" : "[\(address)]" }

    // MARK: the conversation

    mutating func run(_ input: inout NIOAsyncChannelInboundStream<SMTPInput>.AsyncIterator) async throws {
        do {
            let verdict = try await environment.peers.connect(address)
            client = verdict.client
            switch verdict.action {
            case .reject:
                connectReject = SMTPReply(Int(verdict.reply.code), verdict.reply.enhanced, verdict.reply.text)
                logger.notice("connect from \(relay) refused: \(verdict.reply.code) \(verdict.reply.enhanced) \(verdict.reply.text)")
            case .discard:
                discardAll = true
            default:
                break
            }
        } catch {
            logger.error("connect from [\(address)]: relay-policy unavailable: \(error)")
            try await reply(421, "4.3.0", "\(hostname) Service temporarily unavailable; try again later")
            return
        }
        client.address = address
        try await reply(220, "", environment.greeting(now: Int64(Date().timeIntervalSince1970)))
        while true {
            connection.arm(after: environment.commandTimeout, reply: "421 4.4.2 \(hostname) Error: timeout exceeded\r\n")
            guard let next = try await input.next() else { break }
            connection.disarm()
            let outcome: Next
            switch next {
            case let .commands(lines):
                outcome = try await commands(lines, &input)
            case .commandTooLong:
                outcome = try await bad(SMTPReply(500, "5.5.0", "Command line too long"))
            case .bareNewline:
                try await reply(500, "5.5.2", "Error: bare <LF> received")
                logger.notice("\(relay): bare newline in a command; connection closed")
                outcome = .close
            case .overflow:
                try await reply(421, "4.5.0", "\(hostname) Error: input pipelined past DATA; closing connection")
                logger.notice("\(relay): sent more than \(SMTPInputDecoder.maxHeld) octets without waiting for the 354; connection closed")
                outcome = .close
            case .data, .dataEnd:
                outcome = .proceed // not reachable: the decoder is in data mode only inside DATA
            }
            if case .close = outcome { break }
        }
        connection.disarm()
    }

    func reply(_ code: Int, _ enhanced: String, _ text: String) async throws {
        try await send(SMTPReply(code, enhanced, text))
    }

    func send(_ reply: SMTPReply) async throws {
        try await output.write(ByteBuffer(string: reply.wire))
    }

    /// A bad command: answered, counted, and the connection closed past smtp.max_bad_commands.
    mutating func bad(_ reply: SMTPReply) async throws -> Next {
        badCommands += 1
        if badCommands > environment.maxBadCommands {
            try await self.reply(421, "4.7.0", "\(hostname) Too many bad commands; closing connection")
            logger.notice("\(relay): too many bad commands; connection closed")
            return .close
        }
        try await send(reply)
        return .proceed
    }

    /// A group of commands that arrived together, answered in order. The relay-policy questions
    /// of its RCPTs are asked at once first (PIPELINING, RFC 2920), so ten recipients cost one
    /// round trip, not ten; an RCPT that turns out not to need its answer (a refused MAIL, a
    /// syntax error) just leaves it unused. Only RCPTs that can count are asked early: inside a
    /// transaction (an earlier MAIL in the group or one already open), up to smtp.max_recipients
    /// and `maxEarlyQuestions` per group, so a flood of RCPTs without MAIL costs relay-policy
    /// nothing.
    mutating func commands(_ lines: [String], _ input: inout NIOAsyncChannelInboundStream<SMTPInput>.AsyncIterator) async throws -> Next {
        var early: [Int: Task<Mailstack_Ipc_PolicyVerdict, Error>] = [:]
        if lines.count > 1, connectReject == nil {
            let peers = environment.peers
            let share = environment.policyShare
            let client = self.client
            let turn = policyTurn
            var open = transaction != nil
            var counted = transaction?.recipients.count ?? 0
            for (index, line) in lines.enumerated() {
                let command = SMTPCommandLine(line)
                switch command.verb {
                case "AUTH", "STARTTLS": break // they change who the client is
                case "MAIL": open = helo != nil; counted = 0; continue
                case "RSET", "HELO", "EHLO": open = false; continue
                case "RCPT":
                    guard open, counted < environment.maxRecipients, early.count < Self.maxEarlyQuestions,
                          let address = rcptAddress(command.argument) else { continue }
                    counted += 1
                    early[index] = Task { try await share.ask(turn) { try await peers.rcpt(.with { $0.client = client; $0.recipient = address }) } }
                    continue
                default: continue
                }
                break
            }
        }
        defer { early.values.forEach { $0.cancel() } }
        for (index, line) in lines.enumerated() {
            let outcome = try await command(line, &input, early: early[index])
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

    mutating func command(_ line: String, _ input: inout NIOAsyncChannelInboundStream<SMTPInput>.AsyncIterator,
                          early: Task<Mailstack_Ipc_PolicyVerdict, Error>? = nil) async throws -> Next {
        let command = SMTPCommandLine(line)
        let (verb, argument) = (command.verb, command.argument)
        switch verb {
        case "HELO", "EHLO": return try await hello(verb, argument)
        case "MAIL": return try await mail(argument)
        case "RCPT": return try await rcpt(argument, early: early)
        case "DATA": return try await data(argument, &input)
        case "RSET":
            transaction = nil
            try await reply(250, "2.0.0", "Reset state")
        case "NOOP":
            try await reply(250, "2.0.0", "OK")
        case "QUIT":
            try await reply(221, "2.0.0", "\(hostname) closing connection")
            return .close
        case "VRFY":
            if let connectReject { try await send(connectReject) } else {
                try await reply(252, "2.5.2", "Cannot VRFY user; try RCPT to attempt delivery (or try finger)")
            }
        case "EXPN":
            try await reply(502, "5.7.0", "Sorry, we do not allow this operation")
        case "HELP":
            try await send(SMTPReply(214, "2.0.0", lines: [
                "This is \(hostname)", "Topics: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY EXPN HELP STARTTLS AUTH", "End of HELP info",
            ]))
        case "STARTTLS": return try await startTLS(argument)
        case "AUTH": return try await auth(argument, &input)
        default:
            return try await bad(SMTPReply(500, "5.5.1", "Command unrecognized: \"\(Self.quoted(line.prefix(40)))\""))
        }
        return .proceed
    }

    // MARK: HELO, EHLO

    mutating func hello(_ verb: String, _ argument: Substring) async throws -> Next {
        guard !argument.isEmpty, !argument.contains(" ") || verb == "HELO" else {
            return try await bad(SMTPReply(501, "5.0.0", "\(verb) requires domain address"))
        }
        // The name goes into Received: and the logs: no control characters (RFC 5321 4.1.1.1:
        // a domain or an address literal).
        guard !argument.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) else {
            return try await bad(SMTPReply(501, "5.0.0", "Invalid domain name"))
        }
        helo = String(argument.prefix { $0 != " " })
        esmtp = verb == "EHLO"
        transaction = nil
        let greeting = "\(hostname) Hello \(relay), pleased to meet you"
        guard esmtp else {
            try await reply(250, "", greeting)
            return .proceed
        }
        var lines = [greeting, "ENHANCEDSTATUSCODES", "PIPELINING", "8BITMIME", "SIZE \(environment.maxMessageSize)", "DSN", "SMTPUTF8"]
        if submission && tlsActive && environment.peers.authenticate != nil && authenticatedUser == nil { lines.append("AUTH PLAIN LOGIN") }
        if environment.tlsContext != nil && !tlsActive { lines.append("STARTTLS") }
        lines.append("HELP")
        try await send(SMTPReply(250, "", lines: lines))
        return .proceed
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
        do {
            path = try SMTPPath.parse(argument, prefix: "FROM")
        } catch {
            return try await bad(SMTPReply(501, "5.5.2", "Syntax error in parameters scanning \"FROM\""))
        }
        var t = Transaction(sender: path.address)
        for (keyword, value) in path.parameters {
            guard esmtp else { return try await bad(SMTPReply(555, "5.5.4", "\(keyword) parameter unrecognized")) }
            switch (keyword, value) {
            case let ("SIZE", value?):
                guard let size = UInt64(value) else { return try await bad(SMTPReply(501, "5.5.4", "Syntax error in SIZE parameter")) }
                t.declaredSize = size
                if size > UInt64(environment.maxMessageSize) {
                    try await reply(552, "5.3.4", "Message size exceeds fixed maximum message size (\(environment.maxMessageSize))")
                    return .proceed
                }
            case let ("BODY", value?):
                switch value.uppercased() {
                case "7BIT": t.body = .body7Bit
                case "8BITMIME": t.body = .body8Bitmime
                default: return try await bad(SMTPReply(501, "5.5.4", "Unknown BODY type \(value.prefix(20))"))
                }
            case ("SMTPUTF8", nil):
                t.smtputf8 = true
            case let ("RET", value?):
                switch value.uppercased() {
                case "FULL": t.ret = .retFull
                case "HDRS": t.ret = .retHdrs
                default: return try await bad(SMTPReply(501, "5.5.4", "Bad argument \"\(value.prefix(20))\" to RET"))
                }
            case let ("ENVID", value?):
                // RFC 3461 4.4: printable US-ASCII once decoded (no CR/LF/NUL for the DSN's header).
                guard let envid = XText.decode(value), envid.utf8.count <= 100, envid.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else {
                    return try await bad(SMTPReply(501, "5.5.4", "Syntax error in ENVID parameter value"))
                }
                t.envid = envid
            case ("AUTH", _?):
                break // RFC 4954 AUTH=<mailbox>: accepted and not trusted
            default:
                return try await bad(SMTPReply(555, "5.5.4", "\(keyword) parameter unrecognized"))
            }
        }
        if !t.smtputf8 && !path.address.allSatisfy(\.isASCII) {
            try await reply(553, "5.6.7", "<\(path.address)>... Non-ASCII address requires SMTPUTF8")
            return .proceed
        }
        let question = Mailstack_Ipc_PolicyMail.with {
            $0.client = client
            $0.sender = path.address
            $0.size = t.declaredSize
        }
        let (share, peers, turn) = (environment.policyShare, environment.peers, policyTurn)
        let decision = try await decide("MAIL", unavailable: "Temporary system failure; try again later", {
            try await share.ask(turn) { try await peers.mail(question) }
        })
        guard case let .accepted(discard) = decision else { return decision.next }
        t.discard = t.discard || discard
        transaction = t
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
        var recipient = Mailstack_Ipc_Recipient()
        // RFC 5321 4.5.1: <postmaster> without a domain must be accepted.
        recipient.address = rcptAddress(argument) ?? path.address
        for (keyword, value) in path.parameters {
            guard esmtp else { return try await bad(SMTPReply(555, "5.5.4", "\(keyword) parameter unrecognized")) }
            switch (keyword, value) {
            case let ("NOTIFY", value?):
                guard let notify = Self.notify(value) else {
                    return try await bad(SMTPReply(501, "5.5.4", "Bad argument \"\(value.prefix(30))\" to NOTIFY"))
                }
                recipient.notify = notify
            case let ("ORCPT", value?):
                // RFC 3461 4.2: an addr-type and an address; never a control character, which
                // would reach the DSN's Original-Recipient: field.
                guard let semicolon = value.firstIndex(of: ";"), let decoded = XText.decode(String(value[value.index(after: semicolon)...])),
                      decoded.utf8.count <= 500, !decoded.containsControlCharacter, !value[..<semicolon].isEmpty,
                      value[..<semicolon].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
                    return try await bad(SMTPReply(501, "5.5.4", "Syntax error in ORCPT parameter value"))
                }
                recipient.orcpt = value[..<semicolon] + ";" + decoded
            default:
                return try await bad(SMTPReply(555, "5.5.4", "\(keyword) parameter unrecognized"))
            }
        }
        if !t.smtputf8 && !recipient.address.allSatisfy(\.isASCII) {
            try await reply(553, "5.6.7", "<\(recipient.address)>... Non-ASCII address requires SMTPUTF8")
            return .proceed
        }
        guard t.recipients.count < environment.maxRecipients else {
            // Not a bad command: RFC 5321 4.5.3.1.10 has the client send the rest in another
            // transaction. relay-policy is not asked for them.
            try await reply(452, "4.5.3", "Too many recipients")
            return .proceed
        }
        let (share, peers, turn, client) = (environment.policyShare, environment.peers, policyTurn, client)
        let question = Mailstack_Ipc_PolicyRcpt.with {
            $0.client = client
            $0.recipient = recipient.address
        }
        let decision = try await decide("RCPT", unavailable: "<\(recipient.address)>... Temporary system failure; try again later", {
            if let early, question.client == client { return try await early.value }
            return try await share.ask(turn) { try await peers.rcpt(question) }
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
            return .answered(try await bad(SMTPReply(Int(verdict.reply.code), verdict.reply.enhanced, verdict.reply.text)))
        }
        return .accepted(discard: verdict.action == .discard)
    }

    /// NOTIFY=NEVER or a comma list of SUCCESS, FAILURE, DELAY (RFC 3461 4.1), as bits.
    static func notify(_ value: String) -> UInt32? {
        let words = value.uppercased().split(separator: ",", omittingEmptySubsequences: false)
        if words == ["NEVER"] { return 8 }
        var bits: UInt32 = 0
        for word in words {
            switch word {
            case "SUCCESS": bits |= 1
            case "FAILURE": bits |= 2
            case "DELAY": bits |= 4
            default: return nil
            }
        }
        return bits
    }

    // MARK: DATA

    mutating func data(_ argument: Substring, _ input: inout NIOAsyncChannelInboundStream<SMTPInput>.AsyncIterator) async throws -> Next {
        // The decoder holds after DATA; whatever the answer, it must start again.
        guard let t = transaction, !t.recipients.isEmpty, connectReject == nil, argument.isEmpty else {
            connection.resume(.command)
            if let connectReject { try await send(connectReject); return .proceed }
            if !argument.isEmpty { return try await bad(SMTPReply(501, "5.5.4", "Syntax error (no parameters allowed)")) }
            if transaction == nil { return try await bad(SMTPReply(503, "5.0.0", "Need MAIL command")) }
            return try await bad(SMTPReply(503, "5.0.0", "Need RCPT (recipient)"))
        }
        transaction = nil
        let queueID = QueueID.make()
        try await reply(354, "", "Enter mail, end with \".\" on a line by itself")
        connection.resume(.data)
        connection.arm(after: environment.dataTimeout, reply: "421 4.4.2 \(hostname) Error: timeout exceeded\r\n")
        defer { connection.disarm() }

        let stream = SMTPMessageStream()
        let submit = Mailstack_Ipc_QueueSubmit.with {
            $0.sender = t.sender
            $0.recipients = t.recipients
            $0.envid = t.envid
            $0.ret = t.ret
            $0.body = t.body
            $0.smtputf8 = t.smtputf8
            $0.declaredSize = t.declaredSize
            $0.clientAddress = address
            $0.clientName = client.resolve == .ok ? client.name : ""
            $0.helo = helo ?? ""
            $0.queueID = queueID
        }
        let discard = t.discard || discardAll
        let peers = environment.peers
        let handOff = HandOff()
        let queued = Task { () -> Result<String, Error> in
            do {
                if discard {
                    for try await _ in stream {}
                    return .success(queueID)
                }
                return .success(try await peers.submit(submit, stream))
            } catch {
                // Pending and later sends must not wait for a reader that is gone.
                handOff.failed.store(true, ordering: .releasing)
                stream.finish()
                return .failure(error)
            }
        }
        defer { queued.cancel() }
        var size = 0
        var hops = HopCounter()
        var refused: SMTPReply?
        await handOff.send(ByteBuffer(string: await receivedHeader(queueID: queueID, recipients: t.recipients)), to: stream)
        while true {
            guard let next = try await input.next() else {
                stream.fail(CancellationError())
                logger.notice("\(relay): connection lost during DATA")
                return .close
            }
            switch next {
            case let .data(chunk):
                size += chunk.readableBytes
                if !hops.headerDone {
                    hops.feed(chunk.readableBytesView)
                    if hops.hops > environment.maxHopCount && refused == nil {
                        // sendmail's MaxHopCount: the message is in a loop (the final count
                        // goes into the reply at the end).
                        refused = SMTPReply(554, "5.4.6", "Too many hops")
                        stream.fail(SMTPRefusal.tooManyHops)
                    }
                }
                if size > environment.maxMessageSize && refused == nil {
                    refused = SMTPReply(552, "5.3.4", "Message size exceeds fixed maximum message size (\(environment.maxMessageSize))")
                    stream.fail(SMTPRefusal.tooLarge)
                }
                if refused == nil { await handOff.send(chunk, to: stream) }
            case let .dataEnd(lineTooLong):
                if lineTooLong && refused == nil {
                    refused = SMTPReply(554, "5.6.0", "Message line longer than 1000 octets (RFC 5321 section 4.5.3.1.6)")
                    stream.fail(SMTPRefusal.lineTooLong)
                }
                if refused?.enhanced == "5.4.6" {
                    refused = SMTPReply(554, "5.4.6", "Too many hops \(hops.hops) (\(environment.maxHopCount) max): from <\(t.sender)>")
                }
                if let refused {
                    logger.notice("\(relay): message from <\(t.sender)> refused: \(refused)")
                    try await send(refused)
                    return .proceed
                }
                stream.finish()
                switch await queued.value {
                case let .success(id):
                    let what = discard ? "discarded (access DISCARD)" : "accepted"
                    logger.info("\(id): \(what), size=\(size), nrcpts=\(t.recipients.count), from=<\(t.sender)>, relay=\(relay), proto=\(proto)")
                    try await reply(250, "2.0.0", "\(id) Message accepted for delivery")
                case let .failure(error):
                    logger.error("\(relay): queue did not take the message from <\(t.sender)>: \(error)")
                    try await send(.queueFailure(error))
                }
                return .proceed
            case .bareNewline:
                stream.fail(SMTPRefusal.bareNewline)
                try await reply(550, "5.5.2", "Error: bare <LF> received")
                logger.notice("\(relay): bare newline in the message from <\(t.sender)>; refused and connection closed")
                return .close
            case .commands, .commandTooLong, .overflow:
                break // not reachable while the decoder is in data mode
            }
        }
    }

    /// RFC 3848's WITH keywords.
    var proto: String {
        (esmtp ? "ESMTP" : "SMTP") + (tlsActive ? "S" : "") + (authenticatedUser != nil ? "A" : "")
    }

    func receivedHeader(queueID: String, recipients: [Mailstack_Ipc_Recipient]) async -> String {
        var from = "from \(helo ?? address) (\(relay))"
        if let user = authenticatedUser { from += " (authenticated as \(user))" }
        var header = "Received: \(from)\r\n\tby \(hostname) with \(proto) id \(queueID)"
        if tlsActive, let version = await connection.tlsVersion() { header += "\r\n\t(version=\(version))" }
        if recipients.count == 1 { header += "\r\n\tfor <\(recipients[0].address)>" }
        return header + "; \(RFC5322Date.now())\r\n"
    }

    // MARK: STARTTLS

    mutating func startTLS(_ argument: Substring) async throws -> Next {
        guard environment.tlsContext != nil, !tlsActive, argument.isEmpty else {
            connection.resume(.command)
            if !argument.isEmpty { return try await bad(SMTPReply(501, "5.5.4", "Syntax error (no parameters allowed)")) }
            try await reply(tlsActive ? 503 : 502, "5.5.1", tlsActive ? "TLS already active" : "STARTTLS not available")
            return .proceed
        }
        try await connection.startTLS(reply: SMTPReply(220, "2.0.0", "Ready to start TLS").wire)
        // RFC 3207 4.2: forget everything learnt before TLS.
        tlsActive = true
        helo = nil
        esmtp = false
        transaction = nil
        authenticatedUser = nil
        return .proceed
    }

    // MARK: AUTH (submission)

    mutating func auth(_ argument: Substring, _ input: inout NIOAsyncChannelInboundStream<SMTPInput>.AsyncIterator) async throws -> Next {
        guard submission, let authenticate = environment.peers.authenticate else {
            return try await bad(SMTPReply(500, "5.5.1", "Command unrecognized: \"AUTH\""))
        }
        guard tlsActive else { try await reply(538, "5.7.11", "Encryption required for requested authentication mechanism"); return .proceed }
        guard authenticatedUser == nil else { try await reply(503, "5.5.1", "Already authenticated"); return .proceed }
        guard helo != nil, transaction == nil else { try await reply(503, "5.5.1", "AUTH not allowed now"); return .proceed }
        let words = argument.split(separator: " ")
        guard let mechanism = words.first?.uppercased() else { return try await bad(SMTPReply(501, "5.5.2", "AUTH mechanism must be given")) }
        var user = "", password = ""
        switch mechanism {
        case "PLAIN":
            var response = words.count > 1 ? String(words[1]) : nil
            if response == nil {
                try await output.write(ByteBuffer(string: "334 \r\n"))
                guard let line = try await authLine(&input) else { return .close }
                response = line
            }
            guard let decoded = response.flatMap(Self.base64), decoded != "*" else { return try await authAborted() }
            let parts = decoded.split(separator: "\0", omittingEmptySubsequences: false)
            guard parts.count == 3 else { return try await authAborted() }
            (user, password) = (String(parts[1]), String(parts[2]))
        case "LOGIN":
            var name = words.count > 1 ? Self.base64(String(words[1])) : nil
            if name == nil {
                try await output.write(ByteBuffer(string: "334 VXNlcm5hbWU6\r\n"))
                guard let line = try await authLine(&input) else { return .close }
                name = line == "*" ? nil : Self.base64(line)
            }
            guard let name else { return try await authAborted() }
            try await output.write(ByteBuffer(string: "334 UGFzc3dvcmQ6\r\n"))
            guard let line = try await authLine(&input) else { return .close }
            guard line != "*", let secret = Self.base64(line) else { return try await authAborted() }
            (user, password) = (name, secret)
        default:
            return try await bad(SMTPReply(504, "5.7.4", "Unrecognized authentication type"))
        }
        guard !user.containsControlCharacter, !user.isEmpty else {
            logger.notice("\(relay): AUTH \(mechanism) with a malformed user name refused")
            return try await bad(SMTPReply(535, "5.7.8", "Error: authentication failed"))
        }
        if authenticate(user, password) {
            authenticatedUser = user
            client.authenticated = true
            logger.info("\(relay): AUTH \(mechanism) as \(user)")
            try await reply(235, "2.0.0", "OK Authenticated")
            return .proceed
        }
        logger.notice("\(relay): AUTH \(mechanism) failed for \(user.prefix(64))")
        return try await bad(SMTPReply(535, "5.7.8", "Error: authentication failed"))
    }

    /// A client's text quoted in a reply: control characters (which could end the reply line
    /// early or reach the client's terminal) as `?`.
    static func quoted(_ text: Substring) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) ? "?" : $0 }))
    }

    mutating func authAborted() async throws -> Next {
        try await bad(SMTPReply(501, "5.0.0", "AUTH aborted"))
    }

    func authLine(_ input: inout NIOAsyncChannelInboundStream<SMTPInput>.AsyncIterator) async throws -> String? {
        connection.arm(after: environment.commandTimeout, reply: "421 4.4.2 \(hostname) Error: timeout exceeded\r\n")
        defer { connection.disarm() }
        // AUTH is not pipelined: a continuation line comes alone.
        guard case let .commands(lines)? = try await input.next(), lines.count == 1 else { return nil }
        return lines[0]
    }

    static func base64(_ text: String) -> String? {
        Data(base64Encoded: text).flatMap { String(data: $0, encoding: .utf8) }
    }
}

enum SMTPRefusal: Error {
    case tooLarge, lineTooLong, bareNewline, tooManyHops
}

/// Whether the queue's request for the message in DATA has failed: then the rest of the message
/// is read from the client (to answer it at the final dot) but not sent anywhere.
final class HandOff: Sendable {
    let failed = Atomic<Bool>(false)

    func send(_ chunk: ByteBuffer, to stream: SMTPMessageStream) async {
        guard !failed.load(ordering: .acquiring) else { return }
        await stream.send(chunk)
    }
}
