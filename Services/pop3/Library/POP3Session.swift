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
            guard case let .found(record) = await directoryUser(user) else { return try await directoryUnavailable() }
            try await login(user, .password(record, password))
        case (.authorization(nil), .pass):
            try await bad("-ERR Send USER first")
        case let (.authorization, .apop(user, digest)):
            guard case let .found(record) = await directoryUser(user) else { return try await directoryUnavailable() }
            let secret = record?.apopSecret
            let banner = self.banner
            try await login(user, .check {
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
}
