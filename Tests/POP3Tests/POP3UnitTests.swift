import Foundation
import Maildir
import NIOCore
import POP3Service
import Users
import Testing
import TestSupport

@Suite("POP3 commands, message form, passwords, Maildir")
struct POP3UnitTests {
    @Test("commands parse case-insensitively with strict arguments", arguments: [
        ("user you", POP3Command.user("you")), ("PASS two words ", .pass("two words ")), ("Stat", .stat),
        ("LIST", .list(nil)), ("list 3", .list(3)), ("UIDL 12", .uidl(12)), ("RETR 1", .retr(1)), ("DELE 2", .dele(2)),
        ("TOP 1 0", .top(1, lines: 0)), ("APOP user2 C4C9334BAC560ECC979E58001B3E22FB", .apop(user: "user2", digest: "c4c9334bac560ecc979e58001b3e22fb")),
        ("AUTH PLAIN AGZvbwBiYXI=", .auth(mechanism: "PLAIN", initialResponse: "AGZvbwBiYXI=")), ("CAPA", .capa), ("QUIT", .quit),
    ])
    func parse(line: String, expected: POP3Command) throws {
        #expect(try POP3Command.parse(line) == expected)
    }

    @Test("bad arguments and unknown commands are errors", arguments: ["RETR", "RETR 0", "RETR -1", "RETR +1", "RETR 1 2",
                                                                     "LIST x", "TOP 1", "TOP 1 -1", "DELE 9999999999", "USER", "PASS", "XYZZY", "STAT 1"])
    func bad(line: String) {
        #expect(throws: POP3Command.ParseError.self) { try POP3Command.parse(line) }
    }

    func wire(_ text: String, top: Int? = nil, chunk: Int = 3) -> String {
        var writer = POP3MessageWriter(bodyLines: top)
        var out = ByteBuffer()
        let bytes = Array(text.utf8)
        var index = 0
        while index < bytes.count { // drip-fed in small chunks, CR and LF split across them
            writer.transform(ByteBuffer(bytes: bytes[index..<min(index + chunk, bytes.count)]), into: &out)
            index += chunk
        }
        writer.finish(into: &out)
        return String(buffer: out)
    }

    @Test("RETR form: CRLF everywhere, dot-stuffing, terminator")
    func messageForm() {
        #expect(wire("A: b\n\n.hidden\n..two\nend\n") == "A: b\r\n\r\n..hidden\r\n...two\r\nend\r\n.\r\n")
        #expect(wire("A: b\r\n\r\nbody\r\n") == "A: b\r\n\r\nbody\r\n.\r\n")
        #expect(wire("A: b\n\nno final newline") == "A: b\r\n\r\nno final newline\r\n.\r\n")
        #expect(wire(".\n", chunk: 1) == "..\r\n.\r\n")
    }

    @Test("any split of the input gives the same output (CR and LF apart, dots at chunk starts)")
    func splits() {
        let message = "A: 1\r\nB: 2\n\r\n.x\r\n\n..\nbare\rcr\nend"
        for top in [nil, 0, 1, 2] as [Int?] {
            let whole = wire(message, top: top, chunk: message.utf8.count)
            for chunk in 1...12 { #expect(wire(message, top: top, chunk: chunk) == whole, "chunk \(chunk) top \(String(describing: top))") }
        }
        #expect(wire(message, top: 1, chunk: 100) == "A: 1\r\nB: 2\r\n\r\n..x\r\n.\r\n")
    }

    @Test("a line of two CRs split between them is not the blank line that ends the headers")
    func crCrSplit() {
        // Chunks of 6: "A: 1\n\r" then "\r\nB: 2...": the line's second CR comes in the next piece.
        let message = "A: 1\n\r\r\nB: 2\n\nbody\n"
        #expect(wire(message, top: 0, chunk: 100) == "A: 1\r\n\r\r\nB: 2\r\n\r\n.\r\n")
        #expect(wire(message, top: 0, chunk: 6) == "A: 1\r\n\r\r\nB: 2\r\n\r\n.\r\n")
    }

    @Test("TOP sends the headers, the blank line and n body lines")
    func top() {
        let message = "A: 1\nB: 2\n\nl1\nl2\nl3\n"
        #expect(wire(message, top: 0) == "A: 1\r\nB: 2\r\n\r\n.\r\n")
        #expect(wire(message, top: 2) == "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n.\r\n")
        #expect(wire(message, top: 10) == "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n.\r\n")
    }

    @Test("passwd-file: schemes verify, bad lines are reported with their line, unknown users cost a hash")
    func passwd() throws {
        let dir = try TestSupport.temporaryDirectory("passwd")
        let text = """
        # comment
        a:\(PasswdFile.hash("pw-a")!)
        b:{PLAIN}pw b
        c:\(PasswdFile.hash("pw-c", prefix: "$y$")!)
        d:\(PasswdFile.hash("pw-d", prefix: "$2b$")!):1000:1000::/home/d:/bin/false
        e:{MD4}zzz
        f:{SHA512-CRYPT}notahash
        broken
        """
        try text.write(toFile: dir + "/passwd", atomically: true, encoding: .utf8)
        let file = PasswdFile(path: dir + "/passwd", checkInterval: .zero)
        #expect(file.verify(user: "a", password: "pw-a"))
        #expect(!file.verify(user: "a", password: "pw-A"))
        #expect(file.verify(user: "b", password: "pw b"))
        #expect(file.verify(user: "c", password: "pw-c"))
        #expect(file.verify(user: "d", password: "pw-d"))
        #expect(!file.verify(user: "nobody", password: "pw-a"))
        #expect(file.user("b")?.apopSecret == "pw b")
        #expect(file.user("a")?.apopSecret == nil)
        #expect(file.errors.map(\.description) == [
            "\(dir)/passwd:6: unknown password scheme {MD4} for e",
            "\(dir)/passwd:7: f: {SHA512-CRYPT} needs a crypt(3) hash ($6$..., $2b$..., $y$...)",
            "\(dir)/passwd:8: expected user:password[:...]",
        ])
        // Re-read when it changes.
        try "a:{PLAIN}new\n".write(toFile: dir + "/passwd", atomically: true, encoding: .utf8)
        #expect(file.verify(user: "a", password: "new"))
        #expect(!file.verify(user: "b", password: "pw b"))
    }

    @Test("a passwd-file with CRLF line ends reads as with LF (CR LF is one Character; found by fuzzing)")
    func passwdCRLF() {
        let (users, errors) = PasswdFile.parse("a:{PLAIN}pw a\r\nb:{PLAIN}pw b\r\nbroken\r\n", file: "passwd")
        #expect(users["a"]?.secret == "pw a")
        #expect(users["b"]?.secret == "pw b")
        #expect(errors.map(\.line) == [3])
    }

    @Test("Maildir: durable delivery into new/, scan moves to cur/, sizes and UIDLs stay put")
    func maildir() throws {
        let dir = try TestSupport.temporaryDirectory("maildir")
        let box = Maildir(path: dir + "/you")
        let name = try box.deliver(Array("Subject: x\n\nbody\n".utf8))
        #expect(FileManager.default.fileExists(atPath: dir + "/you/new/" + name))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/you/tmp").isEmpty)
        let first = try box.scan()
        #expect(first.count == 1)
        #expect(first[0].relativePath == "cur/" + name + ":2,")
        #expect(first[0].size == 17)
        #expect(first[0].wireSize == 20)
        let again = try box.scan()
        #expect(POP3Mailbox.uidl(again[0]) == POP3Mailbox.uidl(first[0]))
        #expect(POP3Mailbox.uidl(first[0]) == String(name.prefix { $0 != "," }))
        // A file delivered by another program, with no size in its name, is measured.
        try "a\nb\n".write(toFile: dir + "/you/new/123.foreign", atomically: true, encoding: .utf8)
        let foreign = try box.scan().first { $0.uniqueName == "123.foreign" }
        #expect(foreign?.wireSize == 6)
        #expect(POP3Mailbox.uidl(foreign!) == "123.foreign")
        // Its measured size is kept for the next scan, by the file's identity and version: the
        // same name with other content (another inode, size, mtime) is measured again.
        let path = dir + "/you/cur/123.foreign:2,"
        #expect(try box.scan().first { $0.uniqueName == "123.foreign" }?.wireSize == 6)
        try "a\nb\nc\nd\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try box.scan().first { $0.uniqueName == "123.foreign" }?.wireSize == 12)
    }

    @Test("Maildir: messages of the same second are numbered in arrival order (M99812 before M100234)")
    func arrivalOrder() throws {
        let dir = try TestSupport.temporaryDirectory("maildir")
        let box = Maildir(path: dir + "/you")
        try box.create()
        let names = ["1700000000.M99812P7Q1.h", "1700000000.M100234P7Q2.h", "1700000000.M100234P7Q10.h", "1700000001.M5P7Q3.h"]
        for name in names.reversed() {
            let path = dir + "/you/cur/" + name + ":2,"
            try "Subject: \(name)\n\n".write(toFile: path, atomically: false, encoding: .utf8)
            var times = [timeval(tv_sec: 1_700_000_000, tv_usec: 0), timeval(tv_sec: 1_700_000_000, tv_usec: 0)]
            #expect(utimes(path, &times) == 0)
        }
        #expect(try box.scan().map(\.uniqueName) == names)
    }
}

@Suite("passwd-file under concurrent first lookups")
struct PasswdFileConcurrencyTests {
    @Test("lookups that arrive together while the file is first read all find the user")
    func concurrentFirstLookups() throws {
        let dir = try TestSupport.temporaryDirectory("passwd")
        let lines = (0..<20000).map { "filler\($0):{PLAIN}x" } + ["you:{PLAIN}secret1"]
        try lines.joined(separator: "\n").write(toFile: dir + "/passwd", atomically: true, encoding: .utf8)
        for _ in 0..<5 {
            let passwd = PasswdFile(path: dir + "/passwd")
            let found = Locked(0)
            DispatchQueue.concurrentPerform(iterations: 8) { _ in
                if passwd.user("you") != nil { found.withLock { $0 += 1 } }
            }
            #expect(found.withLock { $0 } == 8)
        }
    }
}
