import Foundation
import IPC
import IPCTransport
import Listeners
import Logging
import NIOCore
import SMTP
import Synchronization
import Users

/// STARTTLS (RFC 3207) and, on the submission listener, AUTH PLAIN and LOGIN (RFC 4954) through
/// the same `LoginGuard` as POP3's logins.
extension SMTPSession {
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

    mutating func auth(_ argument: Substring) async throws -> Next {
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
                try await io.write(ByteBuffer(string: "334 \r\n"))
                guard let line = try await authLine() else { return .close }
                response = line
            }
            guard let response, response != "*" else { return try await authAborted() }
            guard let plain = SASL.plain(response) else {
                environment.logins.record(failureOf: nil, from: ClientGroup.key(for: address))
                return try await authAborted()
            }
            (user, password) = plain
        case "LOGIN":
            var name = words.count > 1 ? SASL.text(String(words[1])) : nil
            if name == nil {
                try await io.write(ByteBuffer(string: "334 VXNlcm5hbWU6\r\n"))
                guard let line = try await authLine() else { return .close }
                name = line == "*" ? nil : SASL.text(line)
            }
            guard let name, SASL.isUserName(name) else { return try await authAborted() }
            try await io.write(ByteBuffer(string: "334 UGFzc3dvcmQ6\r\n"))
            guard let line = try await authLine() else { return .close }
            guard line != "*", let secret = SASL.text(line) else { return try await authAborted() }
            (user, password) = (name, secret)
        default:
            return try await bad(SMTPReply(504, "5.7.4", "Unrecognized authentication type"))
        }
        // The same guard as POP3's logins: throttles per client and per user, a delay on every
        // failure, the hash off the event loops.
        let (name, secret) = (user, password)
        let proof: LoginGuard.Proof
        do {
            proof = try await authenticate(name, secret)
        } catch {
            logger.warning("\(relay): AUTH \(mechanism) for \(user.prefix(64)): users unavailable: \(error)")
            try await reply(454, "4.7.0", "Temporary authentication failure")
            return .proceed
        }
        switch await environment.logins.attempt(user: name, client: ClientGroup.key(for: address), proof) {
        case .success:
            authenticatedUser = user
            client.authenticated = true
            logger.info("\(relay): AUTH \(mechanism) as \(user)")
            try await reply(235, "2.0.0", "OK Authenticated")
            return .proceed
        case .failure:
            logger.notice("\(relay): AUTH \(mechanism) failed for \(user.prefix(64))")
            return try await bad(SMTPReply(535, "5.7.8", "Error: authentication failed"))
        case .throttled:
            logger.notice("\(relay): AUTH \(mechanism) for \(user.prefix(64)) refused: too many failures")
            return try await bad(SMTPReply(454, "4.7.0", "Too many failed authentications; try again later"))
        case .busy:
            logger.warning("\(relay): AUTH \(mechanism) refused: too many password checks waiting")
            try await reply(454, "4.7.0", "Temporary authentication failure")
            return .proceed
        }
    }

    /// A client's text quoted in a reply: control characters (which could end the reply line
    /// early or reach the client's terminal) as `?`.
    static func quoted(_ text: Substring) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) ? "?" : $0 }))
    }

    mutating func authAborted() async throws -> Next {
        try await bad(SMTPReply(501, "5.0.0", "AUTH aborted"))
    }

    func authLine() async throws -> String? {
        connection.arm(after: environment.commandTimeout, reply: "421 4.4.2 \(hostname) Error: timeout exceeded\r\n")
        defer { connection.disarm() }
        // AUTH is not pipelined: a continuation line comes alone.
        guard case let .commands(lines)? = try await io.next(), lines.count == 1 else { return nil }
        return lines[0]
    }
}
