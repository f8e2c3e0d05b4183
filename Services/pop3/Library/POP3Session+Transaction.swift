import Crypto
import Listeners
import Users
import Foundation
import Logging
import Maildir
import NIOCore
import NIOFileSystem
import NIOPosix
import Timing

/// TRANSACTION and UPDATE (RFC 1939 sections 5 and 6): the commands on an open mailbox, RETR
/// and TOP streamed with the channel's back-pressure, deletions applied only at QUIT.
extension POP3Session {
    mutating func transaction(_ mailbox: POP3Mailbox, _ command: POP3Command) async throws {
        var mailbox = mailbox
        defer { if case .transaction = state { state = .transaction(mailbox) } }
        switch command {
        case .stat:
            let (count, octets) = mailbox.stat
            try await send("+OK \(count) \(octets)")
        case .list(nil):
            try await sendMultiline("+OK \(mailbox.stat.count) messages", mailbox.live.map { "\($0.number) \($0.message.wireSize)" })
        case let .list(number?):
            guard let message = mailbox.message(number) else { return try await noSuchMessage() }
            try await send("+OK \(number) \(message.wireSize)")
        case .uidl(nil):
            try await sendMultiline("+OK", mailbox.live.map { "\($0.number) \(POP3Mailbox.uidl($0.message))" })
        case let .uidl(number?):
            guard let message = mailbox.message(number) else { return try await noSuchMessage() }
            try await send("+OK \(number) \(POP3Mailbox.uidl(message))")
        case let .retr(number):
            guard let message = mailbox.message(number) else { return try await noSuchMessage() }
            try await stream(mailbox.maildir.path + "/" + message.relativePath, status: "+OK \(message.wireSize) octets",
                             size: message.size, bodyLines: nil)
            mailbox.retrieved.count += 1
            mailbox.retrieved.octets += message.wireSize
        case let .top(number, lines):
            guard let message = mailbox.message(number) else { return try await noSuchMessage() }
            try await stream(mailbox.maildir.path + "/" + message.relativePath, status: "+OK", size: message.size, bodyLines: lines)
        case let .dele(number):
            guard mailbox.message(number) != nil else { return try await noSuchMessage() }
            mailbox.deleted.insert(number)
            try await send("+OK Message \(number) deleted")
        case .rset:
            mailbox.deleted = []
            try await send("+OK \(mailbox.stat.count) messages")
        case .noop:
            try await send("+OK")
        case .quit:
            try await update(mailbox)
        case .user, .pass, .apop, .auth, .stls:
            try await bad("-ERR Already logged in")
        case .capa:
            break // answered in every state
        }
    }

    func noSuchMessage() async throws {
        try await send("-ERR No such message")
    }

    /// UPDATE: apply deletions, release the mailbox, log the session.
    mutating func update(_ mailbox: POP3Mailbox) async throws {
        var failed = 0
        var deletedOctets = 0
        for number in mailbox.deleted.sorted() {
            let message = mailbox.messages[number - 1]
            do {
                try mailbox.maildir.delete(message)
                deletedOctets += message.wireSize
            } catch {
                failed += 1
                logger.error("pop3 cannot delete \(message.relativePath) of \(mailbox.user): \(error)")
            }
        }
        environment.locks.release(mailbox.user)
        state = .done
        logger.info("pop3 logout user=\(mailbox.user) client=\(client) retrieved=\(mailbox.retrieved.count)/\(mailbox.retrieved.octets) deleted=\(mailbox.deleted.count - failed)/\(deletedOctets)")
        try await send(failed == 0 ? "+OK Bye" : "-ERR [SYS/TEMP] \(failed) messages could not be deleted")
    }

    /// Messages up to this size are read whole in one thread-pool job and sent in one write;
    /// larger ones stream in 64 KiB chunks so memory stays bounded whatever the size.
    static let wholeReadLimit = 1 << 20

    /// Messages up to this size are read right here, as Dovecot does: one read of a few KB
    /// (normally from the page cache) costs less than handing the job to the thread pool and
    /// back (two thread wake-ups, ~0.1 ms here), which made 2 KB RETRs slower than Dovecot's.
    static let inlineReadLimit = 16 << 10

    /// Sends `status` and the message, converted and dot-stuffed, then the terminator. The
    /// channel's back-pressure paces the writes.
    func stream(_ path: String, status: String, size: Int, bodyLines: Int?) async throws {
        var writer = POP3MessageWriter(bodyLines: bodyLines)
        var out = ByteBuffer()
        out.writeString(status + "\r\n")
        if size <= Self.wholeReadLimit {
            let content = size <= Self.inlineReadLimit
                ? Self.readWhole(path, expected: size)
                : try await NIOThreadPool.singleton.runIfActiveHere { Self.readWhole(path, expected: size) }
            if let content {
                writer.transform(content, into: &out)
            } else {
                logger.warning("pop3 message vanished while being sent: \(path)")
            }
            writer.finish(into: &out)
            try await output.write(out)
            return
        }
        try await output.write(out)
        do {
            try await FileSystem.shared.withFileHandle(forReadingAt: FilePath(path)) { handle in
                for try await chunk in handle.readChunks(chunkLength: .kibibytes(64)) {
                    var piece = ByteBuffer()
                    writer.transform(chunk, into: &piece)
                    if piece.readableBytes > 0 { try await output.write(piece) }
                    if writer.isDone { break }
                }
            }
        } catch let error as FileSystemError where error.code == .notFound {
            // Removed under us (another client, an administrator): end the message cleanly.
            logger.warning("pop3 message vanished while being sent: \(path)")
        }
        var end = ByteBuffer()
        writer.finish(into: &end)
        try await output.write(end)
    }

    /// A small file's content in one read (nil when it is gone).
    static func readWhole(_ path: String, expected: Int) -> ByteBuffer? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(expected + 1)
        while true {
            let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 65536) { raw in
                max(0, read(fd, raw.baseAddress, raw.count))
            }
            if n == 0 { break }
        }
        return buffer
    }
}
