import Foundation
import IPC
import IPCTransport
import Listeners
import Logging
import NIOCore
import SMTP
import Synchronization
import Users

/// One SMTP conversation (RFC 5321 with PIPELINING, SIZE, 8BITMIME, SMTPUTF8, DSN,
/// ENHANCEDSTATUSCODES, STARTTLS and, on the submission listener, AUTH), in sendmail's words.
/// Every connection, MAIL and RCPT is put to relay-policy (one it has just judged alike is
/// answered from `PolicyMemory`); the message goes to the queue as it arrives
/// and the 250 is sent only once the queue has it on disk.
struct SMTPSession {
    let environment: SMTPEnvironment
    let address: String
    let io: SMTPChannelIO
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
    /// More commands of the same pipelined group follow the one being answered: its reply can
    /// wait to leave with theirs.
    var pipelinedAhead = false
    var transaction: Transaction?
    /// This session's turn in relay-policy's time (`PolicyShare`).
    let policyTurn: UInt64

    /// The transaction between MAIL and the end of DATA, in smtp-in's own terms (the IPC
    /// message is made from them only when the message goes to the queue).
    struct Transaction {
        var sender: String
        var parameters: MailParameters
        var recipients: [EnvelopeRecipient] = []
        var discard = false
    }

    enum Next {
        case proceed
        case close
    }

    init(environment: SMTPEnvironment, address: String, io: SMTPChannelIO,
         connection: SMTPConnection, submission: Bool) {
        self.environment = environment
        self.address = address
        self.io = io
        self.connection = connection
        self.submission = submission
        self.policyTurn = environment.policyShare.session()
    }

    var hostname: String { environment.hostname }
    var logger: Logger { environment.logger }
    /// "name [address]" as sendmail logs and greets a client.
    var relay: String { client.resolve == .ok && !client.name.isEmpty ? "\(client.name) [\(address)]" : "[\(address)]" }

    // MARK: the conversation

    mutating func run() async throws {
        // The greeting does not depend on the connect verdict (a refused client is greeted, then
        // refused command by command, as sendmail does), so it goes out while relay-policy
        // answers; the verdict is taken before the first command is answered. A verdict held
        // for this client (`PolicyMemory`) is not asked again.
        let (peers, memory) = (environment.peers, environment.policyMemory)
        let address = self.address
        let held = memory.client(address)
        let asked = held != nil ? nil : Task {
            let verdict = try await peers.connect(address)
            memory.learn(client: address, verdict)
            return verdict
        }
        defer { asked?.cancel() }
        try await reply(220, "", environment.currentGreeting())
        var decided = false
        while true {
            connection.arm(after: environment.commandTimeout, reply: "421 4.4.2 \(hostname) Error: timeout exceeded\r\n")
            guard let next = try await io.next() else { break }
            connection.disarm()
            if !decided {
                decided = true
                guard try await take(connectVerdict: held, asked: asked) else { break }
            }
            let outcome: Next
            switch next {
            case let .commands(lines):
                outcome = try await commands(lines)
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

    /// relay-policy's verdict on the client: its name, a refusal every transaction command gets,
    /// or discarding. False when relay-policy could not answer: 421 sent, the session ends.
    mutating func take(connectVerdict held: Mailstack_Ipc_PolicyVerdict?, asked: Task<Mailstack_Ipc_PolicyVerdict, Error>?) async throws -> Bool {
        do {
            let verdict: Mailstack_Ipc_PolicyVerdict
            if let held { verdict = held } else { verdict = try await asked!.value }
            client = verdict.client
            switch verdict.action {
            case .reject:
                let refusal = SMTPReply(verdict.reply)
                connectReject = refusal
                logger.notice("connect from \(relay) refused: \(refusal) (\(refusal.reason))")
            case .discard:
                discardAll = true
            default:
                break
            }
        } catch {
            logger.error("connect from [\(address)]: relay-policy unavailable: \(error)")
            try await reply(421, "4.3.0", "\(hostname) Service temporarily unavailable; try again later")
            return false
        }
        client.address = address
        return true
    }

    func reply(_ code: Int, _ enhanced: String, _ text: String) async throws {
        try await send(SMTPReply(code, enhanced, text))
    }

    func send(_ reply: SMTPReply) async throws {
        try await io.write(ByteBuffer(string: reply.wire), flush: pipelinedAhead ? .later : .unlessInputWaits)
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

    mutating func command(_ line: String, early: Task<Mailstack_Ipc_PolicyVerdict, Error>? = nil) async throws -> Next {
        let command = SMTPCommandLine(line)
        let (verb, argument) = (command.verb, command.argument)
        switch verb {
        case "HELO", "EHLO": return try await hello(verb, argument)
        case "MAIL": return try await mail(argument)
        case "RCPT": return try await rcpt(argument, early: early)
        case "DATA": return try await data(argument)
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
        case "AUTH": return try await auth(argument)
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
}
