import NIOCore
import SMTP

/// One SMTP transaction over a ready connection, and the body as it goes on the wire.
extension Feed {
    /// MAIL, RCPTs, DATA (pipelined when offered) and the message. Returns a result per
    /// recipient and whether the connection can be used again.
    func transaction(_ message: Message, recipients: [EnvelopeRecipient], over client: SMTPClient) async -> ([DeliveryResult], Bool) {
        let relay = client.relay
        // With DSN offered, NOTIFY and ORCPT go on to the next hop, which reports from then on.
        let dsn = client.offers("DSN")
        func result(_ reply: SMTPReply) -> DeliveryResult {
            DeliveryResult(code: reply.code, enhanced: reply.enhanced, text: reply.text, relay: relay, dsnPassedOn: dsn)
        }
        if message.smtputf8 && !client.offers("SMTPUTF8") {
            return (recipients.map { _ in DeliveryResult(code: 553, enhanced: "5.6.7", text: "\(relay) does not support SMTPUTF8", relay: relay) }, true)
        }
        var mail = "MAIL FROM:<\(message.sender)>"
        if client.offers("SIZE") { mail += " SIZE=\(message.body.readableBytes)" }
        if message.eightBit && client.offers("8BITMIME") { mail += " BODY=8BITMIME" }
        if message.smtputf8 { mail += " SMTPUTF8" }
        if dsn, let ret = message.ret { mail += " RET=\(ret.rawValue)" }
        if dsn && !message.envid.isEmpty { mail += " ENVID=\(XText.encode(message.envid))" }
        let rcpts = recipients.map { r -> String in
            var line = "RCPT TO:<\(r.address)>"
            if dsn, let notify = r.notify.esmtpValue {
                line += " NOTIFY=" + notify
            }
            if dsn && !r.orcpt.isEmpty, let semicolon = r.orcpt.firstIndex(of: ";") {
                line += " ORCPT=\(r.orcpt[..<semicolon]);\(XText.encode(String(r.orcpt[r.orcpt.index(after: semicolon)...])))"
            }
            return line
        }
        do {
            var results: [DeliveryResult?] = recipients.map { _ in nil }
            let pipelining = client.offers("PIPELINING")
            if pipelining {
                try await client.send(([mail] + rcpts + ["DATA"]).joined(separator: "\r\n") + "\r\n")
            } else {
                try await client.send(mail + "\r\n")
            }
            let mailReply = try await client.reply(within: settings.commandTimeout)
            var accepted: [Int] = []
            for (i, line) in rcpts.enumerated() {
                if !pipelining {
                    guard mailReply.code == 250 else { break }
                    try await client.send(line + "\r\n")
                }
                let reply = try await client.reply(within: settings.commandTimeout)
                if mailReply.code != 250 { continue }
                if reply.code / 100 == 2 { accepted.append(i) } else { results[i] = result(reply) }
            }
            guard mailReply.code == 250 else {
                if pipelining { _ = try await client.reply(within: settings.commandTimeout) } // DATA's reply
                return (recipients.map { _ in result(mailReply) }, true)
            }
            let dataReply: SMTPReply
            if pipelining {
                dataReply = try await client.reply(within: settings.commandTimeout)
            } else if !accepted.isEmpty {
                try await client.send("DATA\r\n")
                dataReply = try await client.reply(within: settings.commandTimeout)
            } else {
                return (results.map { $0! }, true)
            }
            guard !accepted.isEmpty else {
                // Every RCPT refused but the server still said 354 to the pipelined DATA: end an
                // empty message at once (as Postfix does); its reply does not matter.
                if dataReply.code == 354 {
                    try await client.send(".\r\n")
                    _ = try await client.reply(within: settings.dataTimeout)
                }
                return (results.map { $0! }, true)
            }
            guard dataReply.code == 354 else {
                for i in accepted { results[i] = result(dataReply) }
                return (results.map { $0! }, true)
            }
            try await client.send(Self.dotStuffed(message.body, maxLine: settings.maxLine))
            let final = try await client.reply(within: settings.dataTimeout)
            for i in accepted { results[i] = result(final) }
            for (i, r) in results.enumerated() {
                logger.info("\(message.id): to=<\(recipients[i].address)>, relay=\(relay), dsn=\(r!.enhanced), stat=\(r!.code < 300 ? "Sent" : "Failed") (\(r!.code) \(r!.text))")
            }
            return (results.map { $0! }, true)
        } catch {
            return (recipients.map { _ in DeliveryResult(code: 451, enhanced: "4.4.2", text: "Lost connection with \(relay): \(error)", relay: relay) }, false)
        }
    }

    /// The body with leading dots doubled, lines longer than `maxLine` octets broken, and the
    /// final CRLF.CRLF. Whole lines are copied at once (this is the hot path of large messages).
    public static func dotStuffed(_ body: ByteBuffer, maxLine: Int = 990) -> ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(body.readableBytes + body.readableBytes / 64 + 8)
        let view = body.readableBytesView
        var start = view.startIndex
        while start < view.endIndex {
            let lf = view[start...].firstIndex(of: 0x0A)
            let end = lf.map { $0 + 1 } ?? view.endIndex // the line, with its LF
            var content = end - start - (lf == nil ? 0 : 1)
            if content > 0 && lf != nil && view[end - 2] == 0x0D { content -= 1 }
            var offset = start
            var remaining = content
            repeat {
                // A line over the limit goes out in pieces of maxLine octets.
                let piece = min(remaining, maxLine)
                if view[offset] == 0x2E && piece > 0 { out.writeInteger(UInt8(0x2E)) }
                if piece < remaining {
                    out.writeBytes(view[offset..<(offset + piece)])
                    out.writeString("\r\n")
                }
                else {
                    out.writeBytes(view[offset..<end])
                    if lf == nil { out.writeString("\r\n") }
                }
                offset += piece
                remaining -= piece
            } while remaining > 0
            start = end
        }
        out.writeString(".\r\n")
        return out
    }
}
