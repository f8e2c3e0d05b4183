import Foundation
import NIOPosix
import QueueService
import SMTP
import TestSupport
import Testing

/// A spool in a temporary directory with its own I/O pool. `restarted()` opens the same
/// directory again, as the queue does after a restart.
final class TestSpool: @unchecked Sendable {
    let dir: String
    let pool: NIOThreadPool
    let spool: Spool

    init(dir: String? = nil) throws {
        self.dir = try dir ?? TestSupport.temporaryDirectory("spool")
        pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        spool = try Spool(directory: self.dir, pool: pool)
    }

    /// Writes and commits one message (what the queue does before its 250).
    @discardableResult
    func store(_ envelope: QueueEnvelope, body: [UInt8] = Array("Subject: x\r\n\r\nbody\r\n".utf8)) async throws -> Spool.Location {
        let writer = try spool.create(envelope)
        try await writer.append(body)
        try await writer.commit()
        return writer.location
    }

    /// The same directory opened again, and what its recovery finds.
    func restarted() async throws -> (spool: TestSpool, messages: [Spool.Stored], corrupt: [String]) {
        try await close()
        let again = try TestSpool(dir: dir)
        let (messages, _, corrupt) = try await again.spool.recover()
        return (again, messages, corrupt)
    }

    /// The files of an area, the blanks made ahead in msg/ (`.blank-N`) left out.
    func files(_ area: String) -> [String] {
        everything(area).filter { !isBlank($0) }
    }

    /// The empty files made ahead in msg/ for the next messages.
    func blanks() -> [String] { everything("msg").filter(isBlank) }

    /// The blanks made ahead that are still empty.
    func emptyBlanks() -> [String] {
        blanks().filter { (try? FileManager.default.attributesOfItem(atPath: "\(dir)/msg/\($0)")[.size] as? Int) == 0 }
    }

    /// The messages in msg/ that a blank's name also holds (the same inode), by id.
    func secondNames() throws -> Set<String> {
        let blankInodes = Set(try blanks().map { try inode("msg", $0) })
        return Set(try files("msg").filter { blankInodes.contains(try inode("msg", $0)) })
    }

    func everything(_ area: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/\(area)")) ?? []).sorted()
    }

    /// A file's inode number.
    func inode(_ area: String, _ name: String) throws -> UInt64 {
        try #require(try FileManager.default.attributesOfItem(atPath: "\(dir)/\(area)/\(name)")[.systemFileNumber] as? UInt64)
    }

    func close() async throws { try await pool.shutdownGracefully() }
}

/// Whether a name in msg/ is a blank made ahead for a message (SpoolBlanks), not a message.
func isBlank(_ name: String) -> Bool { name.hasPrefix(".blank-") }

/// Every field of an envelope as octets, named. `QueueEnvelope`'s `==` compares its strings as
/// Swift does, by canonical equivalence ("é" equals "e" + U+0301); a spool must give back the
/// very octets it was given, so round trips compare these.
func octets(_ e: QueueEnvelope) -> [(String, [UInt8])] {
    var fields: [(String, [UInt8])] = [
        ("id", Array(e.id.utf8)), ("arrival", Array(String(e.arrival).utf8)), ("sender", Array(e.sender.utf8)),
        ("envid", Array(e.envid.utf8)), ("ret", Array((e.ret?.rawValue ?? "").utf8)), ("body", Array((e.body?.rawValue ?? "").utf8)),
        ("smtputf8", [e.smtputf8 ? 1 : 0]), ("client address", Array(e.clientAddress.utf8)),
        ("client name", Array(e.clientName.utf8)), ("helo", Array(e.helo.utf8)), ("recipients", Array(String(e.recipients.count).utf8)),
    ]
    for (i, r) in e.recipients.enumerated() {
        fields += [("rcpt \(i) notify", Array(String(r.notify.rawValue).utf8)), ("rcpt \(i) address", Array(r.address.utf8)),
                   ("rcpt \(i) orcpt", Array(r.orcpt.utf8))]
    }
    return fields
}

func octets(_ s: QueueState) -> [(String, [UInt8])] {
    [("attempts", Array(String(s.attempts).utf8)), ("next", Array(String(s.next).utf8)), ("warned", [s.warned ? 1 : 0]),
     ("error", Array(s.lastError.utf8)),
     ("finished", Array(s.finished.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.rawValue)" }.joined(separator: ",").utf8))]
}

/// The first field whose octets differ, or nil when all are equal.
func firstDifference(_ a: [(String, [UInt8])], _ b: [(String, [UInt8])]) -> String? {
    for (x, y) in zip(a, b) where x.1 != y.1 {
        return "\(x.0): wrote \(x.1.count) octets \(x.1.prefix(24)), read \(y.1.count) octets \(y.1.prefix(24))"
    }
    return a.count == b.count ? nil : "field count \(a.count) != \(b.count)"
}
