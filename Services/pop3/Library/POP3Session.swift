import Crypto
import Listeners
import Users
import Foundation
import Logging
import Maildir
import NIOCore
import NIOFileSystem
import NIOPosix

/// One POP3 connection, RFC 1939's three states:
///
///     AUTHORIZATION --USER/PASS, APOP, AUTH PLAIN--> TRANSACTION --QUIT--> UPDATE (deletions applied)
///
/// Lines arrive as `POP3Line`; replies go to `output`. Deletions happen only in UPDATE; a
/// connection that ends any other way deletes nothing. The mailbox is locked for the session.
public struct POP3Session {
    enum State {
        case authorization(user: String?)
        case transaction(POP3Mailbox)
        case done
    }

    let environment: POP3Environment
    let client: String
    let output: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let banner: String
    var state = State.authorization(user: nil)
    var logger: Logger
    var badCommands = 0
    var closing = false

    /// STLS support of this connection: its gate and the switch to TLS.
    public struct TLS: Sendable {
        let gate: POP3TLSGate
        let start: @Sendable () async throws -> Void
        public init(gate: POP3TLSGate, start: @escaping @Sendable () async throws -> Void) {
            self.gate = gate
            self.start = start
        }
    }
    let tls: TLS?
    var tlsActive = false
    /// Closes the connection when a whole line does not come in time (nil in tests without a
    /// channel of their own).
    let deadline: ConnectionDeadline?
    let connectedAt = ContinuousClock.now

    /// Unknown or malformed commands tolerated before the connection is closed.
    static let maxBadCommands = 20

    public init(environment: POP3Environment, client: String, output: NIOAsyncChannelOutboundWriter<ByteBuffer>, tls: TLS? = nil,
                deadline: ConnectionDeadline? = nil) {
        self.environment = environment
        self.tls = tls
        self.deadline = deadline
        self.client = client
        self.output = output
        // RFC 1939 section 7: the APOP timestamp, unique per connection. No software name.
        var random = SystemRandomNumberGenerator()
        self.banner = "<\(getpid()).\(random.next() % 1_000_000_000).\(Int(Date().timeIntervalSince1970))@\(environment.hostname)>"
        self.logger = environment.logger
    }

    /// Serves the connection until QUIT, EOF, too many bad commands or an idle timeout.
    public mutating func run(_ lines: inout NIOAsyncChannelInboundStream<POP3Line>.AsyncIterator) async throws {
        guard environment.sessions.open(client, maxTotal: environment.maxSessions, maxPerAddress: environment.maxSessionsPerAddress) else {
            logger.warning("pop3 session refused: too many sessions")
            try await send("-ERR [SYS/TEMP] Too many sessions; try again later")
            return
        }
        defer {
            environment.sessions.close(client)
            if case let .transaction(mailbox) = state {
                environment.locks.release(mailbox.user)
                logger.info("pop3 logout user=\(mailbox.user) client=\(client) retrieved=\(mailbox.retrieved.count)/\(mailbox.retrieved.octets) deleted=0/0 (connection lost, no QUIT)")
            }
        }
        try await send("+OK ready \(banner)")
        while !closing, case let line? = try await nextLine(&lines) {
            guard case let .line(text) = line else {
                try await bad(line == .tooLong ? "-ERR Line too long" : "-ERR Bare CR in command line")
                continue
            }
            let command: POP3Command
            do {
                command = try POP3Command.parse(text)
            } catch POP3Command.ParseError.unknownCommand(let word) {
                try await bad("-ERR Unknown command \(word)")
                continue
            } catch POP3Command.ParseError.badArguments(let why) {
                try await bad("-ERR \(why)")
                continue
            }
            if case .auth(_, nil) = command, case .authorization = state, text.uppercased().hasPrefix("AUTH PLAIN") {
                // AUTH PLAIN with no initial response: ask for it.
                try await send("+ ")
                guard case let .line(answer)? = try await nextLine(&lines) else { return }
                try await execute(.auth(mechanism: "PLAIN", initialResponse: answer == "*" ? "*" : answer))
            } else {
                try await execute(command)
            }
            if case .done = state { return }
            if closing { return }
        }
    }

    /// The next line, within the idle timeout, and before login within what is left of the
    /// login timeout: deadlines count whole lines, so octets trickled in extend nothing.
    func nextLine(_ lines: inout NIOAsyncChannelInboundStream<POP3Line>.AsyncIterator) async throws -> POP3Line? {
        var limit = environment.idleTimeout
        var farewell = "-ERR Idle timeout; closing connection\r\n"
        if case .authorization = state {
            let left = environment.loginTimeout - (ContinuousClock.now - connectedAt)
            if left < limit {
                limit = max(left, .zero)
                farewell = "-ERR [AUTH] Login timeout; closing connection\r\n"
            }
        }
        deadline?.arm(after: limit, farewell: farewell)
        defer { deadline?.disarm() }
        return try await lines.next()
    }

    /// Answers a bad command; the last one tolerated is answered by closing the connection.
    mutating func bad(_ reply: String) async throws {
        badCommands += 1
        if badCommands >= Self.maxBadCommands {
            closing = true
            logger.notice("pop3 client=\(client) closed after \(badCommands) bad commands")
            try await send("-ERR Too many bad commands; closing connection")
        } else {
            try await send(reply)
        }
    }

    func send(_ line: String) async throws {
        var buffer = ByteBuffer()
        buffer.writeString(line)
        buffer.writeString("\r\n")
        try await output.write(buffer)
    }

    func sendMultiline(_ first: String, _ lines: [String]) async throws {
        var buffer = ByteBuffer()
        buffer.writeString(first + "\r\n")
        for line in lines { buffer.writeString((line.hasPrefix(".") ? "." : "") + line + "\r\n") }
        buffer.writeString(".\r\n")
        try await output.write(buffer)
    }

    // MARK: commands

    var canStartTLS: Bool {
        guard tls != nil, !tlsActive, case .authorization = state else { return false }
        return true
    }

    mutating func execute(_ command: POP3Command) async throws {
        if case .stls = command, !canStartTLS {
            tls?.gate.open() // refused: reading goes on in plaintext
        }
        switch (state, command) {
        case (_, .capa):
            try await sendMultiline("+OK Capability list follows", [
                "TOP", "UIDL", "USER", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER", "SASL PLAIN",
            ] + (canStartTLS ? ["STLS"] : []))
        case (_, .noop) where isTransaction:
            try await send("+OK")
        case (.authorization, .quit):
            state = .done
            try await send("+OK Bye")
        case (.authorization, let .user(name)) where !SASL.isUserName(name):
            try await bad("-ERR Invalid user name")
        case (.authorization, let .user(name)):
            // Whether the user exists is never told (RFC 1939 section 13).
            state = .authorization(user: name)
            try await send("+OK Send your password")
        case let (.authorization(user?), .pass(password)):
            state = .authorization(user: nil)
            let passwd = environment.passwd
            try await login(user, check: { passwd.verify(user: user, password: password) })
        case (.authorization(nil), .pass):
            try await bad("-ERR Send USER first")
        case let (.authorization, .apop(user, digest)):
            let secret = environment.passwd.user(user)?.apopSecret
            let banner = self.banner
            try await login(user, check: {
                guard let secret else { return false }
                let expected = Insecure.MD5.hash(data: Data((banner + secret).utf8)).map { String(format: "%02x", $0) }.joined()
                return PasswdFile.constantTimeEqual(Array(expected.utf8), Array(digest.utf8))
            })
        case let (.authorization, .auth(mechanism, response)):
            try await authenticate(mechanism: mechanism, response: response)
        case (.authorization, .stls) where canStartTLS:
            try await tls!.start()
            tlsActive = true
            state = .authorization(user: nil) // nothing said before TLS carries over
            logger.info("pop3 TLS started client=\(client)")
        case (.authorization, .stls):
            try await bad(tlsActive ? "-ERR Already using TLS" : "-ERR STLS is not available on this server")
        case (.authorization, _):
            try await bad("-ERR Not allowed before login")
        case let (.transaction(mailbox), command):
            try await transaction(mailbox, command)
        case (.done, _):
            break
        }
    }

    var isTransaction: Bool { if case .transaction = state { return true } else { return false } }

    /// Shared end of USER/PASS, APOP and AUTH: throttle, delay on failure (`LoginGuard`),
    /// lock, open, drac.
    mutating func login(_ user: String, check: @escaping @Sendable () -> Bool) async throws {
        switch await environment.logins.attempt(user: user, client: ClientGroup.key(for: client), verify: check) {
        case .success:
            break
        case .failure:
            logger.notice("pop3 login failed user=\(user) client=\(client)")
            return try await send("-ERR [AUTH] Authentication failed")
        case .throttled:
            logger.notice("pop3 login failed user=\(user) client=\(client) (throttled)")
            return try await send("-ERR [AUTH] Too many failed logins; try again later")
        case .busy:
            logger.warning("pop3 login refused user=\(user) client=\(client): too many password checks waiting")
            return try await send("-ERR [SYS/TEMP] Server busy; try again later")
        }
        guard environment.locks.acquire(user) else {
            logger.notice("pop3 login refused user=\(user) client=\(client): mailbox in use")
            try await send("-ERR [IN-USE] Mailbox is locked by another session")
            return
        }
        let mailbox: POP3Mailbox
        do {
            let maildir = environment.maildir(for: user)
            try maildir.create()
            mailbox = POP3Mailbox(user: user, maildir: maildir, messages: try maildir.scan())
        } catch {
            environment.locks.release(user)
            logger.error("pop3 cannot open the mailbox of \(user): \(error)")
            try await send("-ERR [SYS/TEMP] Cannot open the mailbox; try again later")
            return
        }
        do {
            try await environment.registerClient(client)
        } catch {
            logger.warning("pop3 drac registration of \(client) failed (login goes on): \(error)")
        }
        state = .transaction(mailbox)
        let (count, octets) = mailbox.stat
        logger.info("pop3 login user=\(user) client=\(client) messages=\(count) octets=\(octets) tls=\(tlsActive ? "yes" : "no")")
        try await send("+OK \(count) messages (\(octets) octets)")
    }

    /// AUTH PLAIN (RFC 5034, RFC 4616): base64 of authzid NUL authcid NUL password.
    mutating func authenticate(mechanism: String, response: String?) async throws {
        guard mechanism == "PLAIN" else {
            try await bad("-ERR Unsupported authentication mechanism")
            return
        }
        guard let response, response != "*" else {
            try await send("-ERR Authentication cancelled")
            return
        }
        guard Data(base64Encoded: response) != nil else {
            try await bad("-ERR [AUTH] Invalid base64")
            return
        }
        guard let (user, password) = SASL.plain(response) else {
            environment.logins.record(failureOf: nil, from: ClientGroup.key(for: client))
            try await send("-ERR [AUTH] Authentication failed")
            return
        }
        let passwd = environment.passwd
        try await login(user, check: { passwd.verify(user: user, password: password) })
    }

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
                : try await NIOThreadPool.singleton.runIfActive { Self.readWhole(path, expected: size) }
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
