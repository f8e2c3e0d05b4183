import Foundation

/// Postfix's smtp-sink as a real SMTP peer on loopback (from the copy scripts/install-deps.sh
/// unpacks): every message it takes is dumped to a file of its own, with the envelope it saw in
/// X-Mail-Args / X-Rcpt-Args lines. `options` are smtp-sink's, for faults: `-r RCPT` (4xx to
/// RCPT), `-f RCPT` (5xx), `-w 3` (3 s before each reply), `-p` (no PIPELINING), `-e` (no ESMTP).
public final class SMTPSink: @unchecked Sendable {
    public let address: String
    public let port: Int
    public let directory: String
    let pid: pid_t

    public init(address: String = "127.0.0.1", port: Int? = nil, options: [String] = []) async throws {
        self.address = address
        self.port = port ?? TestSupport.freePorts()
        directory = try TestSupport.temporaryDirectory("sink")
        chmod(directory, 0o777)
        pid = try TestSupport.spawn([TestSupport.packageRoot + "/scripts/postfix-tool", "smtp-sink", "-u", "nobody",
                                     "-d", directory + "/%M%S."] + options + ["\(address):\(self.port)", "100"],
                                    stdout: directory + ".log", stderr: directory + ".err")
        let (address, port) = (address, self.port)
        try await TestSupport.eventually { Self.listening(address, port) }
    }

    deinit {
        kill(pid, SIGKILL)
        _ = TestSupport.waitExit(pid)
    }

    static func listening(_ address: String, _ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, address, &sin.sin_addr)
        return withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// The messages received so far, each with smtp-sink's envelope lines on top.
    public var messages: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
            .compactMap { try? String(contentsOfFile: directory + "/" + $0, encoding: .utf8) }
    }
}
