import Foundation
import IPC
import Logging
import NIOCore
import SMTPInService
import TestSupport
import Users

/// An smtp-in server in this process on a free loopback port, its peers played by a table:
/// relay-policy decisions by address, a queue that keeps what it is sent.
final class SMTPHarness: @unchecked Sendable {
    struct Queued: Sendable {
        var submit: Mailstack_Ipc_QueueSubmit
        var message: String
    }

    let queued = Locked<[Queued]>([])
    let policyDown = Locked(false)
    let queueDown = Locked(false)
    /// RCPT questions relay-policy was asked.
    let rcptQuestions = Locked(0)
    /// Connect and MAIL questions relay-policy was asked.
    let connectQuestions = Locked(0)
    let mailQuestions = Locked(0)
    /// What relay-policy's verdicts say of their reuse (`PolicyMemory`): none by default.
    let stamp = Locked<(epoch: UInt64, generation: Int64, reuseMs: UInt32)?>(nil)
    let server: SMTPServer
    let environment: SMTPEnvironment
    let task: Task<Void, Error>
    var port: Int { server.localPorts[0] }

    init(configure: (inout SMTPEnvironment) -> Void = { _ in }, submission: Bool = false) async throws {
        let queued = self.queued, policyDown = self.policyDown, queueDown = self.queueDown, rcptQuestions = self.rcptQuestions
        let connectQuestions = self.connectQuestions, mailQuestions = self.mailQuestions, stamp = self.stamp
        @Sendable func stamped(_ verdict: Mailstack_Ipc_PolicyVerdict, reusable: Bool = true) -> Mailstack_Ipc_PolicyVerdict {
            guard let (epoch, generation, reuseMs) = stamp.withLock({ $0 }) else { return verdict }
            var verdict = verdict
            verdict.mapsEpoch = epoch
            verdict.mapsGeneration = generation
            verdict.reuseMs = reusable ? reuseMs : 0
            return verdict
        }
        let peers = SMTPPeers(
            connect: { address in
                connectQuestions.withLock { $0 += 1 }
                if policyDown.withLock({ $0 }) { throw POSIXError(.ECONNREFUSED) }
                return stamped(Self.connectVerdict(address))
            },
            mail: { mail in
                mailQuestions.withLock { $0 += 1 }
                if policyDown.withLock({ $0 }) { throw POSIXError(.ECONNREFUSED) }
                return stamped(mail.sender == "blocked@spam.test" ? Self.reject(550, "5.7.1", "<blocked@spam.test>... Access denied") : .init())
            },
            rcpt: { rcpt in
                rcptQuestions.withLock { $0 += 1 }
                if policyDown.withLock({ $0 }) { throw POSIXError(.ECONNREFUSED) }
                // As relay-policy: a refusal to relay is never reused (its text depends on how the
                // client resolved), a local recipient's answer is.
                if rcpt.recipient == "nobody@domain1.com" { return stamped(Self.reject(550, "5.5.1", "<nobody@domain1.com>... Unknown user")) }
                if rcpt.recipient.hasSuffix("@remote.test") && !(rcpt.client.address == "127.0.0.1" || rcpt.client.authenticated) {
                    return stamped(Self.reject(550, "5.7.1", "<\(rcpt.recipient)>... Relaying denied"), reusable: false)
                }
                return stamped(.init())
            },
            submit: { submit in
                if queueDown.withLock({ $0 }) { throw POSIXError(.ECONNREFUSED) }
                return Upload(submit: submit, queued: queued)
            },
            authenticate: { user, password in .check { user == "you" && password == "secret1" } })
        var logger = Logger(label: "smtp-in")
        logger.logLevel = ProcessInfo.processInfo.environment["SMTP_DEBUG"] != nil ? .trace : .critical
        var environment = SMTPEnvironment(
            hostname: "host.domain.com", loginMessage: "host.domain.com Domain YOU/Original; $b", maxMessageSize: 5_242_880,
            maxRecipients: 100, maxBadCommands: 25, commandTimeout: .seconds(300), dataTimeout: .seconds(600), maxConnections: 100,
            maxConnectionsPerClient: 20, tlsContext: nil, peers: peers, logger: logger)
        configure(&environment)
        self.environment = environment
        server = try await SMTPServer.bind([.address(host: "127.0.0.1", port: 0)], environment: environment, submission: submission)
        let server = self.server
        task = Task { try await server.serve() }
    }

    deinit { task.cancel() }

    /// A message the table's queue takes: kept once finished, dropped when aborted.
    final class Upload: SMTPMessageUpload {
        let submit: Mailstack_Ipc_QueueSubmit
        let queued: Locked<[Queued]>
        let bytes = Locked(ByteBuffer())

        init(submit: Mailstack_Ipc_QueueSubmit, queued: Locked<[Queued]>) {
            self.submit = submit
            self.queued = queued
        }

        func send(_ buffer: ByteBuffer) async throws {
            bytes.withLock { $0.writeImmutableBuffer(buffer) }
        }

        func finish() async throws -> String {
            let message = String(buffer: bytes.withLock { $0 })
            queued.withLock { $0.append(Queued(submit: submit, message: message)) }
            return submit.queueID
        }

        func abort(_ error: Error) async {}
    }

    static func connectVerdict(_ address: String) -> Mailstack_Ipc_PolicyVerdict {
        var verdict = Mailstack_Ipc_PolicyVerdict()
        verdict.client = .with { $0.address = address; $0.resolve = .ok; $0.name = "client.test" }
        switch address {
        case "127.0.0.1": verdict.action = .relay
        case "127.0.0.3":
            verdict = reject(450, "4.7.1", "Access denied. IP name lookup failed [127.0.0.3]")
            verdict.client = .with { $0.address = address; $0.resolve = .fail }
        case "127.0.0.5": verdict = reject(550, "5.7.1", "Access denied")
        case "127.0.0.6": verdict.action = .discard
        default: break
        }
        return verdict
    }

    static func reject(_ code: UInt32, _ enhanced: String, _ text: String) -> Mailstack_Ipc_PolicyVerdict {
        .with {
            $0.action = .reject
            $0.reply = .with { $0.code = code; $0.enhanced = enhanced; $0.text = text }
        }
    }
}

/// A blocking SMTP client over a raw socket, bound to a chosen loopback address, for scripted
/// conversations: it sends exactly the octets given (bare LFs included).
final class SMTPTestClient: @unchecked Sendable {
    let fd: Int32
    var buffer: [UInt8] = []

    /// `receiveBuffer`: a small fixed receive buffer (no autotuning: the kernel then holds
    /// little of what the server sends to a client that does not read).
    init(port: Int, from source: String = "127.0.0.2", receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, source, &local.sin_addr)
        _ = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw POSIXError(.ECONNREFUSED) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ text: String) { _ = Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }

    /// Writes `chunk` again and again without reading anything, until the server stops taking
    /// it (a write blocks for `stall` seconds, or fails) or `limit` octets went out; returns the
    /// octets sent. Where the server must take everything, a long `stall` keeps a loaded
    /// machine's slow server from passing for one that stopped reading.
    func flood(_ chunk: String, limit: Int, stall: Int = 2) async throws -> Int {
        try await TestSupport.offPool {
            var timeout = timeval(tv_sec: stall, tv_usec: 0)
            setsockopt(self.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let bytes = Array(chunk.utf8)
            var sent = 0
            while sent < limit {
                let n = bytes.withUnsafeBytes { Glibc.send(self.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { break }
                sent += n
            }
            return sent
        }
    }

    /// One whole reply (all its lines joined with "\n"), "" at end of stream.
    func reply() async throws -> String {
        try await TestSupport.offPool {
            var lines: [String] = []
            while let line = self.readLine() {
                lines.append(line)
                if line.count < 4 || line[line.index(line.startIndex, offsetBy: 3)] != "-" { break }
            }
            return lines.joined(separator: "\n")
        }
    }

    /// Sends a command line (CRLF added) and returns the reply.
    func command(_ line: String) async throws -> String {
        send(line + "\r\n")
        return try await reply()
    }

    /// True when the server closed the connection (nothing more to read).
    func closed() async throws -> Bool {
        try await TestSupport.offPool { self.readLine() == nil }
    }

    func readLine() -> String? {
        while true {
            if let lf = buffer.firstIndex(of: 10) {
                var line = Array(buffer[..<lf])
                buffer.removeSubrange(...lf)
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = read(fd, &chunk, chunk.count)
            guard n > 0 else { return nil }
            buffer += chunk[..<n]
        }
    }
}
