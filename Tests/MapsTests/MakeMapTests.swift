import Foundation
import MailstackMaps
import Testing

@Suite("makemap source parsing")
struct MakeMapParseTests {
    func parse(_ text: String, _ options: MakeMap.Options = .init()) throws -> [String: String] {
        let entries = try MakeMap.parse(Array(text.utf8), file: "t", options: options)
        return Dictionary(uniqueKeysWithValues: entries.map {
            (String(decoding: $0.key, as: UTF8.self), String(decoding: $0.value, as: UTF8.self))
        })
    }

    @Test("comments and blank lines are skipped; the value is the rest of the line, verbatim")
    func basics() throws {
        let map = try parse("# comment\n\nFoo\tBar baz  \nKey2   val2\n")
        #expect(map == ["foo": "Bar baz  ", "key2": "val2"])
    }

    @Test("keys are lowercased unless -f")
    func folding() throws {
        var options = MakeMap.Options()
        options.foldCase = false
        #expect(try parse("User@Domain1.COM\tx\n", options) == ["User@Domain1.COM": "x"])
        #expect(try parse("User@Domain1.COM\tx\n") == ["user@domain1.com": "x"])
    }

    @Test("-N stores a NUL after key and value")
    func nul() throws {
        var options = MakeMap.Options()
        options.nulTerminate = true
        #expect(try parse("a b\n", options) == ["a\0": "b\0"])
    }

    @Test("-t splits on one given character")
    func delimiter() throws {
        var options = MakeMap.Options()
        options.delimiter = UInt8(ascii: ":")
        #expect(try parse("a:b c:d\n", options) == ["a": "b c:d"])
    }

    @Test("bad lines are reported with their numbers, all of them, and nothing is returned")
    func errors() throws {
        let text = "ok value\n  leading x\nnoval\nok again\n"
        do {
            _ = try parse(text)
            Issue.record("parsed a bad source")
        } catch let error as MapError {
            #expect(error == .invalidSource([
                .syntax(file: "t", line: 2, reason: "syntax error (leading space)"),
                .syntax(file: "t", line: 3, reason: "no RHS for LHS noval"),
                .syntax(file: "t", line: 4, reason: "key ok: duplicate key (first on line 1)"),
            ]))
            #expect(error.description.hasPrefix("t: line 2: syntax error (leading space)\n"))
        }
    }

    @Test("-e allows empty values; -r lets a later duplicate replace the earlier")
    func emptyAndReplace() throws {
        var options = MakeMap.Options()
        options.allowEmptyValue = true
        options.replaceDuplicates = true
        #expect(try parse("noval\nk 1\nK 2\n", options) == ["noval": "", "k": "2"])
    }

    @Test("an over-long line is refused")
    func longLine() {
        let text = "k " + String(repeating: "x", count: MakeMap.maxLine) + "\n"
        #expect(throws: MapError.syntax(file: "t", line: 1, reason: "line too long (\(MakeMap.maxLine + 2) octets, limit \(MakeMap.maxLine))")) {
            try parse(text)
        }
    }
}

@Suite("Berkeley DB maps")
struct MapFileTests {
    @Test("a map written here is read back case-insensitively, hash and btree")
    func writeAndLookup() throws {
        let dir = try MapTestSupport.temporaryDirectory()
        for kind in BerkeleyDB.Kind.allCases {
            let entries = try MakeMap.parse(try MapTestSupport.fixture("virtusertable.txt"), file: "virtusertable", options: .init())
            try MakeMap.write(entries, to: dir + "/vt-\(kind)", kind: kind, options: .init())
            let map = SendmailMap(path: dir + "/vt-\(kind)", kind: kind)
            #expect(try map.lookup("YOU@domain1.com") == "you")
            #expect(try map.lookup("user3@domain1.com") == "user3@docomo.ne.jp")
            #expect(try map.lookup("@domain1.com") == "error:5.5.1:Unknown user")
            #expect(try map.lookup("nobody@domain1.com") == nil)
        }
    }

    @Test("a bad source leaves the map in place untouched")
    func badSourceKeepsOldMap() throws {
        let dir = try MapTestSupport.temporaryDirectory()
        let path = dir + "/access"
        try MakeMap.write(try MakeMap.parse(Array("127.0.0.1 RELAY\n".utf8), file: path, options: .init()), to: path, kind: .hash, options: .init())
        let before = try FileManager.default.attributesOfItem(atPath: path + ".db")[.systemFileNumber] as? Int
        #expect(throws: MapError.self) { try MakeMap.parse(Array("10.1 REJECT\n bad\n".utf8), file: path, options: .init()) }
        let after = try FileManager.default.attributesOfItem(atPath: path + ".db")[.systemFileNumber] as? Int
        #expect(before == after)
        #expect(try SendmailMap(path: path).lookup("127.0.0.1") == "RELAY")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["access.db"])
    }

    @Test("a replaced map file is picked up without reopening by hand")
    func reload() throws {
        let dir = try MapTestSupport.temporaryDirectory()
        let path = dir + "/access"
        func build(_ text: String) throws {
            try MakeMap.write(try MakeMap.parse(Array(text.utf8), file: path, options: .init()), to: path, kind: .hash, options: .init())
        }
        try build("10.1.2 REJECT\n")
        let map = SendmailMap(path: path, checkInterval: .zero)
        #expect(try map.lookup("10.1.2") == "REJECT")
        try build("10.1.2 OK\n10.9 RELAY\n")
        #expect(try map.lookup("10.1.2") == "OK")
        #expect(try map.lookup("10.9") == "RELAY")
        #expect(map.loads == 2)
        // A removed file keeps the last map in service rather than failing lookups.
        try FileManager.default.removeItem(atPath: path + ".db")
        #expect(try map.lookup("10.9") == "RELAY")
        #expect(throws: MapError.missing(path: dir + "/none.db")) { try SendmailMap(path: dir + "/none").lookup("x") }
        #expect(try SendmailMap(path: dir + "/none", optional: true).lookup("x") == nil, "-o: a missing map has no entries")
    }

    @Test("the cached handle is reused between checks")
    func checkInterval() throws {
        let dir = try MapTestSupport.temporaryDirectory()
        let path = dir + "/m"
        try MakeMap.write(try MakeMap.parse(Array("a 1\n".utf8), file: path, options: .init()), to: path, kind: .hash, options: .init())
        let map = SendmailMap(path: path, checkInterval: .seconds(3600))
        #expect(try map.lookup("a") == "1")
        try MakeMap.write(try MakeMap.parse(Array("a 2\n".utf8), file: path, options: .init()), to: path, kind: .hash, options: .init())
        #expect(try map.lookup("a") == "1")
        #expect(map.loads == 1)
    }
}
