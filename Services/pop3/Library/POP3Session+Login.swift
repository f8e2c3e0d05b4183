import Crypto
import Listeners
import Users
import Foundation
import Logging
import Maildir
import NIOCore
import NIOFileSystem
import NIOPosix

/// AUTHORIZATION's end: USER/PASS, APOP and AUTH PLAIN through the `LoginGuard`, then the
/// mailbox locked and opened and the client's address given to drac-registry.
extension POP3Session {
    /// Shared end of USER/PASS, APOP and AUTH: throttle, delay on failure (`LoginGuard`),
    /// lock, open, drac.
    mutating func login(_ user: String, _ proof: LoginGuard.Proof) async throws {
        switch await environment.logins.attempt(user: user, client: ClientGroup.key(for: client), proof) {
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
        switch await environment.locks.acquireEverywhere(user) {
        case .taken:
            break
        case .inUse:
            logger.notice("pop3 login refused user=\(user) client=\(client): mailbox in use")
            try await send("-ERR [IN-USE] Mailbox is locked by another session")
            return
        case let .unavailable(reason):
            logger.warning("pop3 login refused user=\(user) client=\(client): \(reason)")
            try await send("-ERR [SYS/TEMP] Cannot lock the mailbox; try again later")
            return
        }
        // drac-registry records the client while the mailbox is read: each waits for a disk, and
        // neither needs the other. The +OK still comes only once both are done.
        let (register, address) = (environment.registerClient, client)
        async let registration: Void = register(address)
        let mailbox: POP3Mailbox
        do {
            let maildir = environment.maildir(for: user)
            try maildir.create()
            mailbox = POP3Mailbox(user: user, maildir: maildir, messages: try maildir.scan())
        } catch {
            environment.locks.release(user)
            logger.error("pop3 cannot open the mailbox of \(user): \(error)")
            try? await registration
            try await send("-ERR [SYS/TEMP] Cannot open the mailbox; try again later")
            return
        }
        do {
            try await registration
        } catch {
            logger.warning("pop3 drac registration of \(client) failed (login goes on): \(error)")
        }
        state = .transaction(mailbox)
        let (count, octets) = mailbox.stat
        logger.info("pop3 login user=\(user) client=\(client) messages=\(count) octets=\(octets) tls=\(tlsActive ? "yes" : "no")")
        try await send("+OK \(count) messages (\(octets) octets)")
    }

    enum DirectoryAnswer { case found(PasswdFile.User?), unavailable }

    /// The user's record (nil: no such user), or `.unavailable` (logged) when the directory
    /// cannot say now: the login is then refused as temporary, never as a wrong password.
    func directoryUser(_ user: String) async -> DirectoryAnswer {
        do {
            return .found(try await environment.users.user(user))
        } catch {
            logger.warning("pop3 login user=\(user) client=\(client): users unavailable: \(error)")
            return .unavailable
        }
    }

    func directoryUnavailable() async throws {
        try await send("-ERR [SYS/TEMP] Cannot check the password now; try again later")
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
        guard case let .found(record) = await directoryUser(user) else { return try await directoryUnavailable() }
        try await login(user, .password(record, password))
    }
}
