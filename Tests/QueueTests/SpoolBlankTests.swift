#if canImport(Glibc)
import Glibc
#endif
import Foundation
@testable import QueueService
import NIOPosix
import SMTP
import Testing
import TestSupport

/// Messages received into blanks made ahead in msg/ (`SpoolBlanks`), and what recovery makes of
/// them after a crash or a power loss.
@Suite("queue: blanks made ahead in msg/")
struct SpoolBlankTests {
    static func envelope(id: String = QueueID.make()) -> QueueEnvelope {
        QueueEnvelope(id: id, arrival: 1_700_000_000, sender: "a@b.test", recipients: [.init(address: "c@d.test")])
    }

    @Test("a message is received into a blank made ahead in msg/ (no inode allocated, no directory fsync after the final dot); its blank's name goes after the fsync that makes more; a restart keeps them out of the count")
    func blanks() async throws {
        let spool = try TestSpool()
        _ = try await spool.spool.recover() // the queue's start: blanks made, their names synced
        let made = spool.blanks()
        #expect(made.count == 32)
        let inodes = Set(try made.map { try spool.inode("msg", $0) })
        var ids: [String] = []
        for _ in 0..<10 {
            let envelope = Self.envelope()
            try await spool.store(envelope)
            ids.append(envelope.id)
        }
        for id in ids { #expect(inodes.contains(try spool.inode("msg", id)), "msg/\(id) is a blank made ahead") }
        // Each keeps its blank's name too until an fsync of msg/ follows its id's link.
        #expect(try spool.secondNames() == Set(ids))
        #expect(spool.blanks().count == 32 && spool.everything("tmp").isEmpty)

        // Below half of them, more are made on the I/O pool, and their directory fsync settles
        // the messages linked before it: their blanks' names go.
        for _ in 0..<10 { try await spool.store(Self.envelope()) }
        try await TestSupport.eventually { ((try? spool.secondNames().count) ?? 99) <= 4 && spool.emptyBlanks().count >= 28 }
        #expect(spool.files("msg").count == 20)
        #expect(try spool.secondNames().isSubset(of: Set(spool.files("msg"))))

        try "partial".write(toFile: spool.dir + "/tmp/LEFTOVER", atomically: false, encoding: .utf8)
        let (again, messages, _) = try await spool.restarted()
        #expect(messages.count == 20)
        #expect(again.everything("tmp").isEmpty && again.blanks().count == 32 && again.emptyBlanks().count == 32)
        try await again.close()
    }

    @Test("a delivered message's file becomes a blank again: in steady traffic every message is received in an inode the spool already had (none freed, none allocated); emptied, so a restart finds nothing to deliver, messages removed before their blank's name was settled included")
    func recycledInSteadyTraffic() async throws {
        let spool = try TestSpool()
        _ = try await spool.spool.recover()
        let inodes = Set(try spool.blanks().map { try spool.inode("msg", $0) })
        #expect(inodes.count == 32)
        for _ in 0..<100 {
            let envelope = Self.envelope()
            try await spool.store(envelope)
            #expect(inodes.contains(try spool.inode("msg", envelope.id)), "msg/\(envelope.id) is in a blank the spool had")
            try await spool.spool.remove(envelope.id)
        }
        #expect(spool.files("msg").isEmpty)
        #expect(Set(try spool.blanks().map { try spool.inode("msg", $0) }) == inodes)
        #expect(spool.emptyBlanks().count == 32)
        let (again, messages, corrupt) = try await spool.restarted()
        #expect(messages.isEmpty && corrupt.isEmpty)
        try await again.close()
    }

    @Test("a delivered message whose blank's name was settled is kept under a new blank's name, emptied, and later messages are received in it; with enough blanks ready or on their way its file is removed; a restart finds the rest")
    func recycledUnderNewName() async throws {
        let spool = try TestSpool()
        _ = try await spool.spool.recover()
        // 20 messages: below half the blanks, more are made and their fsync settles these 20
        // (their blanks' names go).
        var ids: [String] = []
        for _ in 0..<20 {
            let envelope = Self.envelope()
            try await spool.store(envelope)
            ids.append(envelope.id)
        }
        try await TestSupport.eventually { ((try? spool.secondNames().count) ?? 99) <= 4 && spool.emptyBlanks().count >= 28 }
        let unsettled = try spool.secondNames()
        let settled = ids.filter { !unsettled.contains($0) }
        let delivered = try settled.map { try spool.inode("msg", $0) }
        // 10 more take blanks; then the settled ones are delivered: as many files as make up 32
        // blanks ready or on their way are kept under new names (not ready yet), the rest removed.
        for _ in 0..<10 { try await spool.store(Self.envelope()) }
        for id in settled { try await spool.spool.remove(id) }
        let kept = try spool.blanks().filter { delivered.contains(try spool.inode("msg", $0)) }
        #expect(kept.count >= 1 && kept.count < settled.count)
        for name in kept { #expect(spool.emptyBlanks().contains(name), "\(name) is emptied") }
        #expect(spool.files("msg").count == 30 - settled.count)
        // Taken after the fsync of msg/ that makes their names durable: the ready ones go first,
        // and taking below half of them starts the fill that syncs the kept names.
        var landed = 0
        for _ in 0..<40 {
            let envelope = Self.envelope()
            try await spool.store(envelope)
            if delivered.contains(try spool.inode("msg", envelope.id)) { landed += 1 }
        }
        #expect(landed > 0, "messages are received in delivered messages' files")
        let (again, messages, corrupt) = try await spool.restarted()
        #expect(messages.count == 70 - settled.count && corrupt.isEmpty)
        try await again.close()
    }

    @Test("after a power loss: an empty file under an id (a delivered message's file emptied on disk before its id's removal reached it) is removed at start, never queued or kept as corrupt; a real message beside it is queued")
    func emptiedUnderItsID() async throws {
        let spool = try TestSpool()
        _ = try await spool.spool.recover()
        let kept = Self.envelope()
        try await spool.store(kept)
        let emptied = QueueID.make()
        #expect(FileManager.default.createFile(atPath: "\(spool.dir)/msg/\(emptied)", contents: Data()))
        let (again, messages, corrupt) = try await spool.restarted()
        #expect(messages.map(\.envelope.id) == [kept.id])
        #expect(corrupt.isEmpty && again.everything("corrupt").isEmpty)
        #expect(!again.files("msg").contains(emptied))
        try await again.close()
    }

    @Test("one id, two writers: the second is refused while the first writes and once it is queued, never replacing it; an abandoned id is free")
    func oneIDOneWriter() async throws {
        let spool = try TestSpool()
        _ = try await spool.spool.recover()
        let envelope = Self.envelope()
        let first = try spool.spool.create(envelope)
        #expect(throws: Spool.InUse.self) { _ = try spool.spool.create(envelope) }
        try await first.append(Array("Subject: first\r\n\r\n".utf8))
        try await first.commit()
        #expect(throws: Spool.InUse.self) { _ = try spool.spool.create(envelope) }
        // Even past create (a blank's commit links the id, which fails over a file of that name).
        let other = Self.envelope()
        let writer = try spool.spool.create(other)
        #expect(link(spool.dir + "/msg/" + envelope.id, spool.dir + "/msg/" + other.id) == 0)
        try await writer.append(Array("Subject: second\r\n\r\n".utf8))
        await #expect(throws: Spool.Failure.self) { try await writer.commit() }
        await writer.abandon()
        #expect(unlink(spool.dir + "/msg/" + other.id) == 0)

        let abandoned = Self.envelope()
        await (try spool.spool.create(abandoned)).abandon()
        _ = try spool.spool.create(abandoned) // its first writer is gone

        let (again, messages, _) = try await spool.restarted()
        #expect(messages.map(\.envelope.id) == [envelope.id])
        let body = try await again.spool.body(of: envelope.id, at: try #require(messages.first).location)
        #expect(body == Array("Subject: first\r\n\r\n".utf8))
        try await again.close()
    }

    @Test("after a power loss: a committed message under its blank's name is recovered under its id, once when both names survived; a cut blank is removed; a torn one or one that cannot be read is kept in corrupt/ (never over an earlier one); a file of the earlier format is read")
    func blanksAfterPowerLoss() async throws {
        let first = try TestSpool()
        _ = try await first.spool.recover()
        let (a, b, c, d, old) = (Self.envelope(), Self.envelope(), Self.envelope(), Self.envelope(), Self.envelope())
        let content = Array("Subject: x\r\n\r\n\(String(repeating: "body ", count: 2000))\r\n".utf8)
        for e in [a, b, c, d] { try await first.store(e, body: content) }
        let oldLocation = try await first.store(old, body: content)
        // A restart settles them (a blank whose id's name exists is removed), so what follows is
        // each message under one name.
        let (spool, _, _) = try await first.restarted()
        #expect(try spool.secondNames().isEmpty)
        let msg = spool.dir + "/msg/"
        // a: the link of its id undone; b: both names; c: one octet of its body lost (a page that
        // never reached the disk); d: cut before its end marker; old: the end marker of earlier
        // versions; .blank-904: cannot be opened (a link: O_NOFOLLOW).
        #expect(rename(msg + a.id, msg + ".blank-900") == 0)
        #expect(link(msg + b.id, msg + ".blank-901") == 0)
        var bytes = try #require(FileManager.default.contents(atPath: msg + c.id))
        bytes[bytes.count / 2] ^= 0x20
        try bytes.write(to: URL(fileURLWithPath: msg + ".blank-902"))
        #expect(unlink(msg + c.id) == 0)
        let whole = try #require(FileManager.default.contents(atPath: msg + d.id))
        try whole.prefix(whole.count - 10).write(to: URL(fileURLWithPath: msg + ".blank-903"))
        #expect(unlink(msg + d.id) == 0)
        #expect(symlink("/dev/null", msg + ".blank-904") == 0)
        let current = try #require(FileManager.default.contents(atPath: msg + old.id))
        let bodyLength = oldLocation.bodyLength
        var earlier = current.prefix(current.count - 97)
        earlier.append(contentsOf: Array(("\nmailstack-end " + String(repeating: "0", count: 16 - String(bodyLength).count) + "\(bodyLength)\n").utf8))
        try Data(earlier).write(to: URL(fileURLWithPath: msg + old.id))
        try "kept from an earlier start".write(toFile: spool.dir + "/corrupt/.blank-902", atomically: false, encoding: .utf8)

        try await spool.close()
        let again = try TestSpool(dir: spool.dir)
        let (messages, removed, corrupt) = try await again.spool.recover()
        #expect(removed == 1, "the cut blank")
        #expect(corrupt.count == 2)
        #expect(corrupt.contains { $0.hasPrefix(".blank-902 (corrupt/.blank-902.1): end marker's sum does not match") })
        #expect(corrupt.contains { $0.hasPrefix(".blank-904: open") })
        #expect(again.everything("corrupt") == [".blank-902", ".blank-902.1", ".blank-904"])
        #expect(messages.count == 3)
        #expect(Set(messages.map(\.envelope.id)) == [a.id, b.id, old.id])
        #expect(again.files("msg").sorted() == [a.id, b.id, old.id].sorted())
        #expect(!again.blanks().contains(".blank-900") && !again.blanks().contains(".blank-901"))
        for stored in messages {
            let body = try await again.spool.body(of: stored.envelope.id, at: stored.location)
            #expect(body == content)
        }
        try await again.close()
    }

    @Test("blanks are made between commits: fill waits while a commit is in progress, unless fewer than a quarter are ready")
    func betweenCommits() async throws {
        let directory = try TestSupport.temporaryDirectory("blanks")
        let blanks = SpoolBlanks(directory: directory, target: 8)
        let committing = DispatchSemaphore(value: 0), finish = DispatchSemaphore(value: 0), filled = DispatchSemaphore(value: 0)
        @Sendable func names() -> Int { ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter(SpoolBlanks.isBlank).count }
        func commit() { Thread { blanks.commits.commit { committing.signal(); finish.wait() } }.start(); committing.wait() }

        // None ready: scarce, so they are made though a commit is in progress.
        commit()
        Thread { blanks.fill(); filled.signal() }.start()
        #expect(filled.wait(timeout: .now() + 30) == .success)
        #expect(names() == 8)
        finish.signal()

        // Three of eight ready (below half, so more are made; not below a quarter; the fill
        // taking them asked for is not run, its pool never started): the rest wait for the
        // commit to end.
        let stopped = NIOThreadPool(numberOfThreads: 1) // never started: the fill a take asks for is not run
        for _ in 0..<5 {
            guard let blank = blanks.take(pool: stopped) else { Issue.record("no blank"); return }
            close(blank.fd)
            unlink(blank.path)
        }
        commit()
        Thread { blanks.fill(); filled.signal() }.start()
        try await TestSupport.eventually { blanks.commits.waiters == 1 }
        #expect(names() == 3, "no blank made while the commit is in progress")
        finish.signal()
        #expect(filled.wait(timeout: .now() + 30) == .success)
        #expect(names() == 8)
    }

    @Test("kept blanks are counted: a reservation is refused once target blanks are ready or on their way, an unused one frees its place; fill makes no file while half or more are coming, and a kept one is handed out after fill's fsync")
    func keptBlanksCounted() async throws {
        let directory = try TestSupport.temporaryDirectory("blanks")
        let blanks = SpoolBlanks(directory: directory, target: 4)
        let stopped = NIOThreadPool(numberOfThreads: 1) // never started: the fill a take asks for is not run
        @Sendable func names() -> Int { ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter(SpoolBlanks.isBlank).count }
        blanks.fill()
        #expect(names() == 4)
        #expect(blanks.reserveRecycling() == nil, "4 of 4 ready: no file kept")

        // Two taken (2 ready, half): a reservation unused frees its place; one kept is coming.
        var taken: [String] = []
        for _ in 0..<2 {
            let blank = try #require(blanks.take(pool: stopped))
            close(blank.fd)
            taken.append(blank.path)
        }
        let unused = try #require(blanks.reserveRecycling())
        blanks.endRecycling(nil)
        #expect(!FileManager.default.fileExists(atPath: unused))
        _ = try #require(blanks.reserveRecycling())
        blanks.endRecycling(taken[0])
        _ = try #require(blanks.reserveRecycling(), "3 of 4 coming: one more may be kept")
        blanks.endRecycling(nil)

        // 2 ready + 1 kept = 3 coming, not below half: fill makes no file, and its fsync makes
        // the kept one ready: three taken in a row, the last of them the kept file.
        blanks.fill()
        #expect(names() == 4, "no file made")
        var handedOut: [String] = []
        for _ in 0..<3 {
            let blank = try #require(blanks.take(pool: stopped))
            close(blank.fd)
            handedOut.append(blank.path)
        }
        #expect(handedOut.contains(taken[0]))
        #expect(blanks.take(pool: stopped) == nil)
    }

    @Test("end markers read from a file's last octets: the current one with its sum, the earlier one, and nothing else")
    func endMarkers() {
        let sum = [UInt8](0..<32)
        let current = Spool.trailer(bodyLength: 1234, sum: sum)
        #expect(current.count == Spool.sumMarkerLength)
        let parsed = Spool.endMarker(tail: (Array("header".utf8) + current).suffix(Spool.sumMarkerLength))
        #expect(parsed?.bodyLength == 1234 && parsed?.sum == sum && parsed?.length == 97)
        let earlier = Array("\nmailstack-end 0000000000001234\n".utf8)
        let old = Spool.endMarker(tail: (Array(String(repeating: "x", count: 80).utf8) + earlier).suffix(97)[...])
        #expect(old?.bodyLength == 1234 && old?.sum == nil && old?.length == 32)
        #expect(Spool.endMarker(tail: earlier[...])?.bodyLength == 1234, "a file shorter than the current marker")

        var bad = current
        bad[bad.count - 2] = UInt8(ascii: "g") // not a hex digit
        #expect(Spool.endMarker(tail: bad[...]) == nil)
        #expect(Spool.endMarker(tail: current.dropLast()) == nil, "no final newline")
        #expect(Spool.endMarker(tail: current.dropFirst()) == nil, "too short")
        var digits = current
        digits[20] = UInt8(ascii: "-")
        #expect(Spool.endMarker(tail: digits[...]) == nil, "a length that is not 16 digits")
        #expect(Spool.endMarker(tail: Array(repeating: 0x0A, count: 97)[...]) == nil)
    }
}
