// smtp-load: an SMTP load client that measures what smtp-source does not print: the latency of
// each message, from its MAIL FROM to the 250 after its data (which mailstack and Postfix send
// only once the message is durable). Connections are kept open; MAIL, RCPT and DATA are
// pipelined (both servers offer PIPELINING). Not a test: it prints one line of figures.

import ArgumentParser
import Foundation

@main
struct SMTPLoad: ParsableCommand {
    @Option(help: "Server port on 127.0.0.1.") var port: Int
    @Option(help: "Concurrent connections.") var connections = 10
    @Option(help: "Messages in all.") var messages = 2000
    @Option(help: "Message size in octets.") var size = 2048
    @Option(help: "Recipients per message.") var recipients = 1
    @Option(help: "Recipient domain (recipients are rcpt<N>@domain).") var domain = "remote.test"
    @Option(help: "A label for the output line.") var label = "server"
    @Flag(help: "Also print the mean and more quantiles of the latency (a second line).") var distribution = false

    func run() throws {
        let body = Self.body(size: size)
        let perConnection = max(1, messages / connections)
        let results = Results()
        let start = Date()
        var threads: [Thread] = []
        for n in 0..<connections {
            let thread = Thread { [port, recipients, domain] in
                do {
                    let latencies = try Self.session(port: port, count: perConnection, recipients: recipients, domain: domain, body: body, id: n)
                    results.add(latencies, failed: 0)
                } catch {
                    results.add([], failed: perConnection)
                    FileHandle.standardError.write(Data("smtp-load: connection \(n): \(error)\n".utf8))
                }
            }
            thread.stackSize = 1 << 20
            threads.append(thread)
            thread.start()
        }
        for thread in threads { while !thread.isFinished { usleep(2000) } }
        let elapsed = Date().timeIntervalSince(start)
        let (latencies, failed) = results.snapshot()
        let sorted = latencies.sorted()
        func ms(_ q: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))] * 1000 }
        print(String(format: "%@ size=%d rcpts=%d conns=%d: %.0f msg/s  %.1f MB/s  p50 %.2f ms  p99 %.2f ms  failed %d",
                     label, size, recipients, connections, Double(sorted.count) / elapsed,
                     Double(sorted.count * size) / elapsed / 1e6, ms(0.5), ms(0.99), failed))
        if distribution && !sorted.isEmpty {
            let mean = sorted.reduce(0, +) / Double(sorted.count) * 1000
            let over = { (limit: Double) in sorted.filter { $0 * 1000 > limit }.reduce(0, +) / elapsed * 100 }
            print(String(format: "  mean %.2f ms  p10 %.2f  p90 %.2f  p95 %.2f  p99.9 %.2f  max %.2f ms; time in messages over 5 ms %.0f%%, over 10 ms %.0f%%",
                         mean, ms(0.1), ms(0.9), ms(0.95), ms(0.999), sorted.last! * 1000, over(5) / Double(connections), over(10) / Double(connections)))
        }
    }

    static func body(size: Int) -> [UInt8] {
        var text = "From: <load@client.test>\r\nTo: <rcpt@remote.test>\r\nSubject: load\r\n\r\n"
        let line = String(repeating: "0123456789", count: 7) + "\r\n"
        while text.utf8.count + line.utf8.count <= size { text += line }
        return Array((text + ".\r\n").utf8)
    }

    static func session(port: Int, count: Int, recipients: Int, domain: String, body: [UInt8], id: Int) throws -> [Double] {
        let connection = try Connection(port: port)
        defer { connection.close() }
        try connection.expect(220)
        try connection.send("EHLO load\(id).client.test\r\n")
        try connection.expect(250)
        var latencies: [Double] = []
        latencies.reserveCapacity(count)
        for m in 0..<count {
            let started = Date()
            var envelope = "MAIL FROM:<load\(id)-\(m)@client.test>\r\n"
            for r in 0..<recipients { envelope += "RCPT TO:<rcpt\(r)@\(domain)>\r\n" }
            try connection.send(envelope + "DATA\r\n")
            try connection.expect(250)
            for _ in 0..<recipients { try connection.expect(250) }
            try connection.expect(354)
            try connection.send(body)
            try connection.expect(250)
            latencies.append(Date().timeIntervalSince(started))
        }
        try connection.send("QUIT\r\n")
        return latencies
    }
}

final class Results: @unchecked Sendable {
    let lock = NSLock()
    var latencies: [Double] = []
    var failed = 0
    func add(_ more: [Double], failed count: Int) { lock.lock(); latencies += more; failed += count; lock.unlock() }
    func snapshot() -> ([Double], Int) { lock.lock(); defer { lock.unlock() }; return (latencies, failed) }
}

struct LoadError: Error, CustomStringConvertible { var description: String }

/// A blocking client socket with a line reader for replies.
final class Connection {
    let fd: Int32
    var buffer: [UInt8] = []

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw LoadError(description: "connect: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    func close() { _ = Glibc.close(fd) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + sent, bytes.count - sent) }
            guard n > 0 else { throw LoadError(description: "write: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    /// Reads one (possibly multi-line) reply and checks its code.
    func expect(_ code: Int) throws {
        while true {
            let line = try readLine()
            guard line.count >= 4, let got = Int(line.prefix(3)) else { throw LoadError(description: "bad reply \(line)") }
            if line[line.index(line.startIndex, offsetBy: 3)] == "-" { continue }
            guard got == code else { throw LoadError(description: "expected \(code), got \(line)") }
            return
        }
    }

    func readLine() throws -> String {
        while true {
            if let lf = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[..<lf], as: UTF8.self)
                buffer.removeSubrange(...lf)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = read(fd, &chunk, chunk.count)
            guard n > 0 else { throw LoadError(description: "connection closed") }
            buffer += chunk[..<n]
        }
    }
}
