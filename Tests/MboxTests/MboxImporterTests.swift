import Foundation
import Testing
import CProcess
import Maildir
@testable import Mbox

@Suite struct MboxImporterTests {
    static let from = "From alice@example.org Wed Dec  2 05:53:22 1992"
    static let stored = "Received: from a by b\nDate: Wed, 2 Dec 1992 05:53:22 +0000\nMessage-Id: <1@x>\nSubject: hello\nX-Other: no\n\nbody\n"

    /// Vectors from an independent implementation (Tests/Interop/mbox_migration.py, Python's hashlib).
    @Test func qpopperComputedUIDLs() {
        let new = QpopperUIDL.uidl(stored: Array(Self.stored.utf8), fromLine: Array(Self.from.utf8))
        #expect(new.uidl == "+En!!=(`!!4WS\"!EVJ\"!")
        #expect(new.source == .computed)
        let old = QpopperUIDL.uidl(stored: Array(Self.stored.utf8), fromLine: Array(Self.from.utf8), oldStyle: true)
        #expect(old.uidl == "69138ebee117aa042544b16c03a518ab")
    }

    @Test func qpopperHeaderUIDLs() {
        func uidl(_ header: String) -> (String, QpopperUIDL.Source) {
            let result = QpopperUIDL.uidl(stored: Array((header + "Subject: x\n\nbody\n").utf8), fromLine: Array(Self.from.utf8))
            return (result.uidl, result.source)
        }
        #expect(uidl("X-UIDL: 0123456789abcdef\n") == ("0123456789abcdef", .header))
        #expect(uidl("x-uidl:\t 0123456789abcdef\n") == ("0123456789abcdef", .header))
        // qpopper ignores values shorter than 11 or longer than 32 characters; we also refuse
        // what RFC 1939 forbids.
        #expect(uidl("X-UIDL: short\n").1 == .computed)
        #expect(uidl("X-UIDL: " + String(repeating: "a", count: 33) + "\n").1 == .computed)
        #expect(uidl("X-UIDL: has a space inside\n").1 == .computed)
        // Only the header counts.
        #expect(QpopperUIDL.uidl(stored: Array("Subject: x\n\nX-UIDL: 0123456789abcdef\n".utf8), fromLine: Array(Self.from.utf8)).source == .computed)
    }

    func mbox(_ messages: [String], in dir: String) throws -> String {
        let path = dir + "/you"
        let text = messages.enumerated().map { "From a\($0.offset)@x Wed Dec  2 05:5\($0.offset):22 1992\n\($0.element)\n" }.joined()
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func directory() throws -> String {
        let dir = NSTemporaryDirectory() + "mbox-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func importer(_ dir: String, _ configure: (inout MboxImporter.Options) -> Void = { _ in }) -> MboxImporter {
        var options = MboxImporter.Options()
        configure(&options)
        return MboxImporter(maildir: Maildir(path: dir + "/maildir"), options: options, now: 2_000_000_000)
    }

    @Test func importsOnceEvenAfterDeletionsAndCrashes() throws {
        let dir = try directory()
        let one = "Subject: one\n\nbody\n", two = "Subject: two\nStatus: RO\n\nbody\n"
        let path = try mbox([one, two, one], in: dir) // the same message twice: two messages
        let first = try importer(dir).run(mbox: path)
        #expect(first.messages == 3 && first.imported == 3)
        let maildir = Maildir(path: dir + "/maildir")
        var listed = try maildir.scan()
        #expect(listed.map { try! String(contentsOfFile: maildir.path + "/" + $0.relativePath, encoding: .utf8) } == [one, two, one])
        #expect(listed[1].relativePath.hasSuffix(":2,S"))
        // Again: nothing new.
        #expect(try importer(dir).run(mbox: path).alreadyImported == 3)
        // An import that died before its journal: the names still tell.
        let journal = dir + "/maildir/" + ImportJournal.name
        let saved = FileManager.default.contents(atPath: journal)
        try FileManager.default.removeItem(atPath: journal)
        #expect(try importer(dir).run(mbox: path).imported == 0)
        FileManager.default.createFile(atPath: journal, contents: saved)
        // Deleted by a POP3 client: not brought back.
        try maildir.delete(listed[0])
        #expect(try importer(dir).run(mbox: path).imported == 0)
        // The spool grew: only the new message.
        let grown = try mbox([one, two, one, "Subject: three\n\nbody\n"], in: dir)
        let third = try importer(dir).run(mbox: grown)
        #expect(third.imported == 1 && third.alreadyImported == 3)
        listed = try maildir.scan()
        #expect(listed.count == 3)
    }

    @Test func dryRunWritesNothingAndTheSourceIsUntouched() throws {
        let dir = try directory()
        let path = try mbox(["Subject: one\n\nbody\n"], in: dir)
        let before = try FileManager.default.attributesOfItem(atPath: path)
        let bytes = FileManager.default.contents(atPath: path)
        let report = try importer(dir) { $0.dryRun = true }.run(mbox: path)
        #expect(report.messages == 1 && report.imported == 0)
        #expect(!FileManager.default.fileExists(atPath: dir + "/maildir"))
        _ = try importer(dir).run(mbox: path)
        #expect(FileManager.default.contents(atPath: path) == bytes)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date == before[.modificationDate] as? Date)
    }

    @Test func arrivalOrderAndUIDLs() throws {
        let dir = try directory()
        // Dates out of order and one in the future: mbox order wins, nothing later than now.
        let text = "From a@x Wed Dec  2 05:53:22 1992\nX-UIDL: 0123456789abcdef\n\nfirst\n\n"
            + "From b@x Tue Dec  1 05:53:22 1992\nSubject: b\n\nsecond\n\n"
            + "From c@x Wed Dec  2 05:53:22 2099\nX-UIDL: 0123456789abcdef\n\nthird, a forged copy of the first's UIDL\n\n"
        try text.write(toFile: dir + "/you", atomically: true, encoding: .utf8)
        let report = try importer(dir).run(mbox: dir + "/you")
        #expect(report.uidlsFromHeader == 1 && report.uidlsComputed == 1 && report.uidlsDuplicate == 1)
        let listed = try Maildir(path: dir + "/maildir").scan()
        #expect(listed.map(\.mtime) == [723_275_602, 723_275_602, 2_000_000_000])
        let uidls = listed.map { Maildir.uidl(ofUnique: $0.uniqueName) }
        #expect(uidls[0] == "0123456789abcdef")
        #expect(Set(uidls).count == 3)
    }

    @Test func locksAreWaitedForOrRefused() throws {
        let dir = try directory()
        let path = try mbox(["Subject: one\n\nbody\n"], in: dir)
        // A dot-lock.
        FileManager.default.createFile(atPath: path + ".lock", contents: Data())
        #expect(throws: MboxFile.Failure.self) { try importer(dir).run(mbox: path) }
        try FileManager.default.removeItem(atPath: path + ".lock")
        // A qpopper session's temporary drop.
        FileManager.default.createFile(atPath: dir + "/.you.pop", contents: Data("From x\n".utf8))
        do {
            _ = try importer(dir).run(mbox: path)
            Issue.record("imported while qpopper's .you.pop held messages")
        } catch let MboxFile.Failure.locked(_, reason) {
            #expect(reason.contains(".you.pop"))
        }
        try FileManager.default.removeItem(atPath: dir + "/.you.pop")
        // A writer's fcntl lock (procmail's kind), released while the import waits. An OFD lock
        // (mailstack_exclusive_lock): a classic one would be this process's, and the importer's
        // own close() of the file would drop it.
        let writer = open(path, O_RDWR | O_CLOEXEC) // not inherited by what other tests spawn meanwhile
        #expect(mailstack_exclusive_lock(writer) == 0)
        #expect(throws: MboxFile.Failure.self) { try importer(dir).run(mbox: path) }
        var told: [String] = []
        let report = try importer(dir) { $0.wait = 60 }.run(mbox: path) { reason in
            told.append(reason)
            close(writer) // the writer is done
        }
        #expect(told == ["a writer holds an fcntl lock on it"])
        #expect(report.imported == 1)
        // Two imports into one Maildir: the second is refused while the first runs.
        let running = try ImportJournal(maildir: Maildir(path: dir + "/maildir"), owner: nil)
        do {
            _ = try importer(dir).run(mbox: path)
            Issue.record("two imports wrote into one Maildir")
        } catch let MboxFile.Failure.locked(_, reason) {
            #expect(reason.contains("another import-mbox"))
        }
        _ = running
    }

    @Test func notAnMbox() throws {
        let dir = try directory()
        try "Subject: no From line\n\nbody\n".write(toFile: dir + "/you", atomically: true, encoding: .utf8)
        #expect(throws: MboxParser.Failure.self) { try importer(dir).run(mbox: dir + "/you") }
        #expect(throws: MboxFile.Failure.self) { try importer(dir).run(mbox: dir + "/nobody") }
    }

    @Test func uidlFieldsInNames() {
        for uidl in ["0123456789abcdef", "a/b:c,d%e", "+En!!=(`!!4WS\"!EVJ\"!"] {
            #expect(Maildir.uidl(ofUnique: "1.M0P0Q1.mbox-k-1,S=1,W=1,U=" + Maildir.encodeUIDL(uidl)) == uidl)
        }
        #expect(Maildir.uidl(ofUnique: "1700000000.M1P2Q3.host,S=1,W=1") == "1700000000.M1P2Q3.host")
        // A bad field is not trusted: the name decides.
        #expect(Maildir.uidl(ofUnique: "1.M0P0Q1.h,U=20") == "1.M0P0Q1.h")   // a space
        #expect(Maildir.uidl(ofUnique: "1.M0P0Q1.h,U=zz") == "1.M0P0Q1.h")
    }
}
