import Foundation
import Logging
import Maildir
import NIOCore
import POP3Service
import Users
import TestSupport

/// A blocking TCP client for scripted POP3 conversations; every read goes through offPool.
final class LineClient: @unchecked Sendable {
    let fd: Int32
    var buffer: [UInt8] = []

    /// `receiveBuffer`: a small fixed receive buffer (no autotuning: the kernel then holds
    /// little of what the server sends to a client that does not read).
    init(port: Int, host: String = "127.0.0.1", receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw POSIXError(.ECONNREFUSED) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ text: String) { _ = Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }

    /// Sends `line` + CRLF and returns the one-line reply.
    func command(_ line: String) async throws -> String {
        send(line + "\r\n")
        return try await self.line()
    }

    /// One line without its CRLF; "" at end of stream.
    func line() async throws -> String {
        try await TestSupport.offPool { self.readLine() ?? "" }
    }

    /// A multi-line reply's body (after its status line), dot-unstuffed.
    func body() async throws -> [String] {
        try await TestSupport.offPool {
            var lines: [String] = []
            while let line = self.readLine(), line != "." { lines.append(line.hasPrefix("..") ? String(line.dropFirst()) : line) }
            return lines
        }
    }

    /// The raw octets of a multi-line reply's body, terminator included.
    func rawBody() async throws -> [UInt8] {
        try await TestSupport.offPool {
            var out: [UInt8] = []
            while true {
                guard let line = self.readRawLine() else { return out }
                out += line
                if line == Array(".\r\n".utf8) { return out }
            }
        }
    }

    func isClosed() async throws -> Bool { try await TestSupport.offPool { self.readRawLine() == nil } }

    /// Waits (up to `seconds`) for the server to close or reset the connection, without
    /// reading what it sent; true if it did.
    func waitForServerClose(seconds: Int32) async throws -> Bool {
        try await TestSupport.offPool {
            var entry = pollfd(fd: self.fd, events: Int16(0x2000) /* POLLRDHUP */, revents: 0)
            guard poll(&entry, 1, seconds * 1000) == 1 else { return false }
            return entry.revents & Int16(0x2000 | POLLHUP | POLLERR) != 0
        }
    }

    private func readLine() -> String? {
        guard var raw = readRawLine() else { return nil }
        if raw.last == 10 { raw.removeLast() }
        if raw.last == 13 { raw.removeLast() }
        return String(decoding: raw, as: UTF8.self)
    }

    private func readRawLine() -> [UInt8]? {
        while true {
            if let lf = buffer.firstIndex(of: 10) {
                let line = Array(buffer[...lf])
                buffer.removeFirst(lf + 1)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { return nil }
            buffer += chunk[0..<n]
        }
    }
}

/// An in-process POP3 server on a free loopback port, with a passwd-file and Maildirs in a
/// temporary directory. drac registrations are recorded (the real registry is exercised by the
/// socket-level tests of the binaries).
struct POP3Fixture: Sendable {
    let directory: String
    let server: POP3Server
    let registered: Locked<[String]>
    let environment: POP3Environment

    var port: Int { server.localPorts[0] }

    static let passwords = ["you": "secret1", "user2": "apopsecret", "user4": "bcrypt pass"]

    /// Hashed once: bcrypt and SHA512-CRYPT are slow on purpose.
    static let passwdText: String =
        "# test users\n"
            + "you:\(PasswdFile.hash("secret1")!)\n"
            + "user2:{PLAIN}apopsecret\n"
            + "user4:\(PasswdFile.hash("bcrypt pass", prefix: "$2b$")!)\n"

    static func make(failureDelay: Duration = .milliseconds(50), maxFailures: Int = 3, maxUserFailures: Int? = nil,
                     idle: Duration = .seconds(600), loginTimeout: Duration = .seconds(600),
                     dracFails: Bool = false) async throws -> POP3Fixture {
        let directory = try TestSupport.temporaryDirectory("pop3")
        try passwdText.write(toFile: directory + "/passwd", atomically: true, encoding: .utf8)
        let registered = Locked<[String]>([])
        let environment = POP3Environment(
            passwd: PasswdFile(path: directory + "/passwd"), maildirRoot: directory + "/mail", hostname: "host.domain.com",
            logins: LoginGuard(limits: .init(maxFailures: maxFailures, maxUserFailures: maxUserFailures, window: .seconds(60),
                                             failureDelay: failureDelay)),
            idleTimeout: idle, loginTimeout: loginTimeout, maxSessions: 20, maxSessionsPerAddress: 5,
            registerClient: { address in
                if dracFails { throw POSIXError(.ECONNREFUSED) }
                registered.withLock { $0.append(address) }
            },
            logger: Logger(label: "mailstack.pop3"))
        let server = try await POP3Server.bind([.address(host: "127.0.0.1", port: 0)], environment: environment)
        return POP3Fixture(directory: directory, server: server, registered: registered, environment: environment)
    }

    func deliver(_ user: String, _ text: String) throws {
        try Maildir(path: directory + "/mail/" + user).deliver(Array(text.utf8))
    }

    /// Runs `body` while the server serves.
    func run(_ body: @Sendable (POP3Fixture) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            defer { group.cancelAll() }
            try await body(self)
        }
    }

    /// A client logged in as `user`.
    func login(_ user: String) async throws -> LineClient {
        let client = try LineClient(port: port)
        _ = try await client.line()
        _ = try await client.command("USER \(user)")
        let reply = try await client.command("PASS \(Self.passwords[user]!)")
        guard reply.hasPrefix("+OK") else { throw POSIXError(.EACCES) }
        return client
    }
}
