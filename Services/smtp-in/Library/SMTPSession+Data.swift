import Foundation
import IPC
import IPCTransport
import Listeners
import Logging
import NIOCore
import SMTP
import Synchronization
import Users
import SenderAuth

/// DATA: the message streamed to the queue as it arrives, the Received: line, the limits that
/// refuse it at the final dot (size, line length, hops), the 250 once the queue has it on disk.
extension SMTPSession {
    // MARK: DATA

    mutating func data(_ argument: Substring) async throws -> Next {
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
        let senderAuth = environment.senderAuth
        let authTask = startSenderAuth(sender: t.sender)
        defer { authTask?.cancel() }
        var filter = InboundHeaderFilter(authservID: senderAuth?.authservID ?? hostname)
        /// The message held until the final dot when Authentication-Results: goes on top of it
        /// (DKIM and DMARC need it whole; bounded by smtp.max_message_size).
        var held: [ByteBuffer]? = senderAuth != nil ? [] : nil
        try await reply(354, "", "Enter mail, end with \".\" on a line by itself")
        connection.resume(.data)
        connection.arm(after: environment.dataTimeout, reply: "421 4.4.2 \(hostname) Error: timeout exceeded\r\n")
        defer { connection.disarm() }

        let submit = t.submit(queueID: queueID, clientAddress: address, clientName: client.resolve == .ok ? client.name : "",
                              helo: helo ?? "")
        let discard = t.discard || discardAll
        var queue = discard ? QueueHandOff.discarding : await QueueHandOff.start(submit, peers: environment.peers)
        var size = 0
        var hops = HopCounter()
        /// The first reason the message is refused; answered at the final dot.
        var refusal: SMTPRefusal?
        func refuse(_ reason: SMTPRefusal) async {
            guard refusal == nil else { return }
            refusal = reason
            await queue.abort(reason)
        }
        let received = await receivedHeader(queueID: queueID, recipients: t.recipients)
        if held == nil { await queue.send(ByteBuffer(string: received)) }
        /// Passes message octets on, or holds them.
        func pass(_ chunk: ByteBuffer) async {
            guard chunk.readableBytes > 0 else { return }
            if held != nil { held!.append(chunk) } else { await queue.send(chunk) }
        }
        // Whatever ends the session here (the client gone, a write failing), the queue drops the
        // message: an upload neither finished nor aborted would hold it till its deadline.
        do {
            while true {
                guard let next = try await io.next() else {
                    await queue.abort(CancellationError())
                    logger.notice("\(relay): connection lost during DATA")
                    return .close
                }
                switch next {
                case let .data(chunk):
                    size += chunk.readableBytes
                    if !hops.headerDone {
                        hops.feed(chunk.readableBytesView)
                        // sendmail's MaxHopCount: the message is in a loop.
                        if hops.hops > environment.maxHopCount { await refuse(.tooManyHops) }
                    }
                    if size > environment.maxMessageSize { await refuse(.tooLarge) }
                    // The header goes through the filter; the body as it came.
                    if refusal == nil { await pass(filter.inBody ? chunk : ByteBuffer(bytes: filter.feed(chunk.readableBytesView))) }
                case let .dataEnd(lineTooLong):
                    if lineTooLong { await refuse(.lineTooLong) }
                    if let refusal {
                        let refused: SMTPReply
                        switch refusal {
                        case .tooManyHops:
                            refused = SMTPReply(554, "5.4.6", "Too many hops \(hops.hops) (\(environment.maxHopCount) max): from <\(t.sender)>")
                        case .tooLarge:
                            refused = SMTPReply(552, "5.3.4", "Message size exceeds fixed maximum message size (\(environment.maxMessageSize))")
                        case .lineTooLong:
                            refused = SMTPReply(554, "5.6.0", "Message line longer than 1000 octets (RFC 5321 section 4.5.3.1.6)")
                        case .bareNewline:
                            refused = SMTPReply(550, "5.5.2", "Error: bare <LF> received")
                        case .dmarc:
                            refused = SMTPReply(550, "5.7.1", "Message refused by the DMARC policy of its From: domain")
                        }
                        logger.notice("\(relay): message from <\(t.sender)> refused: \(refused)")
                        try await send(refused)
                        return .proceed
                    }
                    await pass(ByteBuffer(bytes: filter.finish()))
                    var authLog = ""
                    if let senderAuth {
                        let whole = held ?? []
                        let verdict = await senderAuthVerdict(senderAuth, message: { whole.flatMap { Array($0.readableBytesView) } },
                                                              fromFields: filter.fromFields, auth: authTask)
                        authLog = ", " + verdict.log
                        if verdict.disposition == .reject {
                            await queue.abort(SMTPRefusal.dmarc)
                            let refused = SMTPReply(550, "5.7.1", "Message refused by the DMARC policy of its From: domain",
                                                    reason: verdict.log)
                            logger.notice("\(queueID): \(relay): message from <\(t.sender)> refused: \(refused) \(verdict.log)")
                            try await send(refused)
                            return .proceed
                        }
                        await queue.send(ByteBuffer(string: verdict.header))
                    }
                    if let held {
                        await queue.send(ByteBuffer(string: received))
                        for chunk in held { await queue.send(chunk) }
                    }
                    if filter.removed > 0 { authLog += ", removed \(filter.removed) forged header field(s)" }
                    switch await queue.finish(queueID) {
                    case let .success(id):
                        let what = discard ? "discarded (access DISCARD)" : "accepted"
                        logger.info("\(id): \(what), size=\(size), nrcpts=\(t.recipients.count), from=<\(t.sender)>, relay=\(relay), proto=\(proto)\(authLog)")
                        try await reply(250, "2.0.0", "\(id) Message accepted for delivery")
                    case let .failure(error):
                        logger.error("\(relay): queue did not take the message from <\(t.sender)>: \(error)")
                        try await send(.queueFailure(error))
                    }
                    return .proceed
                case .bareNewline:
                    await queue.abort(SMTPRefusal.bareNewline)
                    try await reply(550, "5.5.2", "Error: bare <LF> received")
                    logger.notice("\(relay): bare newline in the message from <\(t.sender)>; refused and connection closed")
                    return .close
                case .commands, .commandTooLong, .overflow:
                    break // not reachable while the decoder is in data mode
                }
            }
        } catch {
            await queue.abort(error)
            throw error
        }
    }

    /// RFC 3848's WITH keywords.
    var proto: String {
        (esmtp ? "ESMTP" : "SMTP") + (tlsActive ? "S" : "") + (authenticatedUser != nil ? "A" : "")
    }

    func receivedHeader(queueID: String, recipients: [EnvelopeRecipient]) async -> String {
        var from = "from \(helo ?? address) (\(relay))"
        if let user = authenticatedUser { from += " (authenticated as \(user))" }
        var header = "Received: \(from)\r\n\tby \(hostname) with \(proto) id \(queueID)"
        if tlsActive, let version = await connection.tlsVersion() { header += "\r\n\t(version=\(version))" }
        if recipients.count == 1 { header += "\r\n\tfor <\(recipients[0].address)>" }
        return header + "; \(RFC5322Date.now())\r\n"
    }
}

enum SMTPRefusal: Error {
    case tooLarge, lineTooLong, bareNewline, tooManyHops, dmarc
}

/// The message of a DATA on its way to the queue: started before the first octet arrives, fed as
/// they arrive, finished at the final dot. Once the queue fails the rest of the message is read
/// from the client (to answer it at the final dot) but sent nowhere; a refused message is
/// aborted, so the queue discards what it has.
struct QueueHandOff {
    /// nil: discarding (access DISCARD), failed, or aborted.
    var upload: (any SMTPMessageUpload)?
    var failure: Error?

    static let discarding = QueueHandOff()

    static func start(_ submit: Mailstack_Ipc_QueueSubmit, peers: SMTPPeers) async -> QueueHandOff {
        do {
            return QueueHandOff(upload: try await peers.submit(submit))
        } catch {
            return QueueHandOff(failure: error)
        }
    }

    mutating func send(_ chunk: ByteBuffer) async {
        guard let upload else { return }
        do {
            try await upload.send(chunk)
        } catch {
            (self.upload, failure) = (nil, error)
        }
    }

    mutating func abort(_ reason: Error) async {
        await upload?.abort(reason)
        upload = nil
    }

    /// The queue id once the message is on disk (`discarded`: the id to answer with when the
    /// message goes nowhere), or why not.
    mutating func finish(_ discarded: String) async -> Result<String, Error> {
        if let failure { return .failure(failure) }
        guard let upload else { return .success(discarded) }
        self.upload = nil
        do {
            return .success(try await upload.finish())
        } catch {
            return .failure(error)
        }
    }
}
