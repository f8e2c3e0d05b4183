import IPC
import IPCTransport
import NIOCore
import SMTP

extension MailQueue {
    /// Takes a message from smtp-in: writes it to the spool (masquerading and completing its
    /// header section on the way), makes it durable, and only then returns its id and size.
    public nonisolated func accept<Body: AsyncSequence>(_ submit: Mailstack_Ipc_QueueSubmit, body: Body) async throws
        -> (id: String, size: Int) where Body.Element == ByteBuffer {
        guard !submit.recipients.isEmpty else { throw IPCHandlerError(.badRequest, "no recipients") }
        try requireFreeSpace(for: submit)
        let now = clock.now()
        // smtp-in names the id in its Received: header and its 250 reply; honour it when valid,
        // but never over a message the queue holds or is receiving (Spool.create refuses it):
        // a peer reusing an id must not replace a queued message.
        let id = QueueID.isValid(submit.queueID) ? submit.queueID : QueueID.make(now: now)
        var envelope = QueueEnvelope(id: id, arrival: now, submit: submit)
        envelope.sender = settings.rewriter.envelopeSender(envelope.sender)
        let writer: SpoolWriter
        do {
            writer = try spool.create(envelope)
        } catch let error as Spool.InUse {
            logger.warning("queue.submit with the id \(id) of a queued message refused")
            throw IPCHandlerError(.badRequest, "\(error)")
        } catch {
            // Refused before anything is written: what the spool could not read back after a
            // restart is never acknowledged.
            logger.error("\(envelope.id): not queued: \(error)")
            throw IPCHandlerError(.badRequest, "queue cannot store this envelope: \(error)")
        }
        var messageID = ""
        do {
            var head: [UInt8] = []
            var inHeader = true
            var total = 0
            for try await chunk in body {
                total += chunk.readableBytes
                guard total <= settings.maxMessageSize else {
                    throw IPCHandlerError(.tooLarge, "message exceeds \(settings.maxMessageSize) octets")
                }
                guard inHeader else {
                    try await writer.append(chunk.readableBytesView)
                    continue
                }
                head.append(contentsOf: chunk.readableBytesView)
                if let end = HeaderRewriter.endOfHeader(head) {
                    let (section, id) = settings.rewriter.rewrite(Array(head[..<end]), id: envelope.id, now: now)
                    messageID = id
                    try await writer.append(section)
                    try await writer.append(head[end...])
                    inHeader = false
                } else if head.count > HeaderRewriter.maxHeaderSection {
                    try await writer.append(head)
                    inHeader = false
                }
            }
            if inHeader {
                let (section, id) = settings.rewriter.rewrite(head, id: envelope.id, now: now)
                messageID = id
                try await writer.append(section)
            }
            try await writer.commit()
        } catch {
            await writer.abandon()
            if error is IPCHandlerError { throw error }
            logger.error("\(envelope.id): not queued: \(error)")
            // The partial file is gone (abandon); a full file system is said as such, so the
            // client hears 452 4.3.1 and the message waits on its side.
            if let failure = error as? Spool.Failure, failure.isOutOfSpace {
                throw IPCHandlerError(.insufficientStorage, "queue cannot store the message: \(failure)")
            }
            throw IPCHandlerError(.unavailable, "queue cannot store the message: \(error)")
        }
        logger.info("\(envelope.id): from=<\(envelope.sender)>, size=\(writer.bodyLength), nrcpts=\(envelope.recipients.count), msgid=\(messageID), relay=\(envelope.relay)")
        await enqueue(envelope, location: writer.location)
        return (envelope.id, writer.bodyLength)
    }

    /// sendmail's MinFreeBlocks: a new message is refused while the spool's file system has less
    /// than queue.min_free free beyond its declared SIZE=, so the messages already acknowledged
    /// keep room for their state files and DSNs (which are never refused this way).
    nonisolated func requireFreeSpace(for submit: Mailstack_Ipc_QueueSubmit) throws {
        guard settings.minFree > 0 else { return }
        let available: Int
        do {
            available = try spool.availableSpace()
        } catch {
            logger.error("cannot tell the spool's free space: \(error)")
            return // the write itself will tell
        }
        let declared = Int(clamping: submit.declaredSize)
        let (needed, overflow) = settings.minFree.addingReportingOverflow(declared)
        guard overflow || available < needed else { return }
        logger.warning("submission refused: \(available) octets free in \(spool.directory), queue.min_free is \(settings.minFree) (message SIZE=\(declared))")
        throw IPCHandlerError(.insufficientStorage, "spool low on space: \(available) octets free, \(needed) needed")
    }
}
