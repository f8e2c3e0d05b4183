import SMTP

/// sendmail -bs: an SMTP session with the user on stdin and stdout (RFC 5321, as much as a
/// local client needs: HELO, EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, with VRFY and EXPN
/// answered as the seed's goaway does). A value-type state machine over lines: it answers each
/// line, and at the final dot hands the envelope and the message (dot-stuffing undone, CRLF
/// lines) to its driver, which submits it through the same local path as -bm and tells the
/// session how that went.
public struct LocalSMTPSession: Sendable {
    public enum State: Equatable, Sendable {
        case command
        /// Reading DATA; `refusal` is the first reason the message is refused at the final dot.
        case data(refusal: String?)
        case closed
    }

    /// A message ready to be submitted.
    public struct Message: Equatable, Sendable {
        public var sender: String
        public var recipients: [EnvelopeRecipient]
        public var parameters: MailParameters
        public var helo: String
        public var data: [UInt8]
    }

    public enum Step: Equatable, Sendable {
        /// Write this (one or more reply lines, CRLF included).
        case reply(String)
        /// A data line was taken; nothing to write.
        case none
        /// Submit this message, then write `submitted(...)`'s reply.
        case submit(Message)
        /// Write this and end the session.
        case close(String)
    }

    public let hostname: String
    public let user: String
    public let maxMessageSize: Int
    public let maxRecipients: Int
    public private(set) var state = State.command
    var helo: String?
    var esmtp = false
    var sender: String?
    var parameters = MailParameters()
    var recipients: [EnvelopeRecipient] = []
    var data: [UInt8] = []

    /// Command lines are at most 512 octets (RFC 5321 4.5.3.1.4).
    public static let maxCommandLine = 512

    public init(hostname: String, user: String, maxMessageSize: Int, maxRecipients: Int) {
        self.hostname = hostname
        self.user = user
        self.maxMessageSize = maxMessageSize
        self.maxRecipients = maxRecipients
    }

    /// The 220 greeting: the login message, as smtp-in's.
    public static func greeting(_ text: String) -> String { "220 \(text)\r\n" }

    public mutating func line(_ line: LineReader.Line) -> Step {
        switch state {
        case .closed:
            return .none
        case let .data(refusal):
            return dataLine(line, refusal: refusal)
        case .command:
            guard !line.tooLong, line.bytes.count <= Self.maxCommandLine else { return .reply("500 5.5.0 Command line too long\r\n") }
            return command(SMTPCommandLine(String(decoding: line.bytes, as: UTF8.self)))
        }
    }

    /// The end of input: sendmail's answer, and the session is over.
    public mutating func endOfInput() -> String {
        state = .closed
        return "421 4.4.1 \(hostname) Lost input channel\r\n"
    }

    /// The reply to DATA's final dot once the queue answered (`id`), or could not take it
    /// (`failure`: the code and text, from the queue's refusal).
    public mutating func submitted(id: String) -> String {
        reset()
        return "250 2.0.0 \(id) Message accepted for delivery\r\n"
    }

    public mutating func submitted(failure reply: String) -> String {
        reset()
        return reply + "\r\n"
    }

    mutating func reset() {
        sender = nil
        parameters = MailParameters()
        recipients = []
        data = []
        state = .command
    }

    mutating func command(_ command: SMTPCommandLine) -> Step {
        switch command.verb {
        case "HELO", "EHLO":
            let name = command.argument.prefix { $0 != " " }
            guard !name.isEmpty, !name.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7F }) else {
                return .reply("501 5.0.0 \(command.verb) requires domain address\r\n")
            }
            helo = String(name)
            esmtp = command.verb == "EHLO"
            reset()
            let hello = "\(hostname) Hello \(user)@localhost, pleased to meet you"
            guard esmtp else { return .reply("250 \(hello)\r\n") }
            let lines = [hello, "ENHANCEDSTATUSCODES", "PIPELINING", "8BITMIME", "SIZE \(maxMessageSize)", "DSN", "HELP"]
            return .reply(lines.enumerated().map { "250\($0.offset == lines.count - 1 ? " " : "-")\($0.element)\r\n" }.joined())
        case "MAIL":
            guard sender == nil else { return .reply("503 5.5.0 Sender already specified\r\n") }
            let path: SMTPPath
            do {
                path = try SMTPPath.parse(command.argument, prefix: "FROM")
            } catch {
                return .reply("501 5.5.2 Syntax error in parameters scanning \"from\"\r\n")
            }
            do {
                parameters = try MailParameters.parse(path.parameters, esmtp: esmtp)
            } catch {
                return .reply(error.reply.wire)
            }
            guard path.address.isEmpty || LocalAddress.isValid(path.address) else {
                return .reply("501 5.1.7 Bad sender address syntax\r\n")
            }
            if parameters.size > UInt64(maxMessageSize) {
                return .reply("552 5.2.3 Message size exceeds fixed maximum message size (\(maxMessageSize))\r\n")
            }
            sender = path.address
            return .reply("250 2.1.0 <\(path.address)>... Sender ok\r\n")
        case "RCPT":
            guard sender != nil else { return .reply("503 5.0.0 Need MAIL before RCPT\r\n") }
            let path: SMTPPath
            let rcpt: RcptParameters
            do {
                path = try SMTPPath.parse(command.argument, prefix: "TO")
                guard !path.address.isEmpty else { throw SMTPPath.Failure.syntax("empty") }
            } catch {
                return .reply("501 5.5.2 Syntax error in parameters scanning \"to\"\r\n")
            }
            do {
                rcpt = try RcptParameters.parse(path.parameters, esmtp: esmtp)
            } catch {
                return .reply(error.reply.wire)
            }
            guard LocalAddress.isValid(path.address) else { return .reply("501 5.1.3 Bad recipient address syntax\r\n") }
            guard recipients.count < maxRecipients else { return .reply("452 4.5.3 Too many recipients\r\n") }
            recipients.append(EnvelopeRecipient(address: path.address, notify: rcpt.notify ?? [], orcpt: rcpt.orcpt ?? ""))
            return .reply("250 2.1.5 <\(path.address)>... Recipient ok\r\n")
        case "DATA":
            guard command.argument.isEmpty else { return .reply("501 5.5.4 Syntax error (no parameters allowed)\r\n") }
            guard sender != nil else { return .reply("503 5.0.0 Need MAIL command\r\n") }
            guard !recipients.isEmpty else { return .reply("503 5.0.0 Need RCPT (recipient)\r\n") }
            state = .data(refusal: nil)
            return .reply("354 Enter mail, end with \".\" on a line by itself\r\n")
        case "RSET":
            reset()
            return .reply("250 2.0.0 Reset state\r\n")
        case "NOOP":
            return .reply("250 2.0.0 OK\r\n")
        case "QUIT":
            state = .closed
            return .close("221 2.0.0 \(hostname) closing connection\r\n")
        case "VRFY":
            return .reply("252 2.5.2 Cannot VRFY user; try RCPT to attempt delivery (or try finger)\r\n")
        case "EXPN":
            return .reply("502 5.7.0 Sorry, we do not allow this operation\r\n")
        case "HELP":
            return .reply("214-2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY\r\n214 2.0.0 End of HELP info\r\n")
        default:
            let verb = String(command.verb.unicodeScalars.filter { $0.value >= 0x20 && $0.value < 0x7F }.prefix(20))
            return .reply("500 5.5.1 Command unrecognized: \"\(verb)\"\r\n")
        }
    }

    mutating func dataLine(_ line: LineReader.Line, refusal: String?) -> Step {
        var refusal = refusal
        if line.bytes == [UInt8(ascii: ".")] && !line.tooLong {
            if let refusal {
                reset()
                return .reply(refusal + "\r\n")
            }
            let message = Message(sender: sender ?? "", recipients: recipients, parameters: parameters, helo: helo ?? "", data: data)
            data = []
            return .submit(message)
        }
        // RFC 5321 4.5.2: a leading dot was doubled by the client.
        let bytes = line.bytes.first == UInt8(ascii: ".") ? line.bytes.dropFirst() : line.bytes[...]
        if line.tooLong, refusal == nil { refusal = "554 5.6.0 Message line too long" }
        if refusal == nil {
            if data.count + bytes.count + 2 > maxMessageSize {
                refusal = "552 5.3.4 Message size exceeds fixed maximum message size (\(maxMessageSize))"
                data = []
            } else {
                data += bytes
                data += [0x0D, 0x0A]
            }
        }
        state = .data(refusal: refusal)
        return .none
    }
}
