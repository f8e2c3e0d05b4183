import Foundation
import MailstackMaps
import Testing

/// Our `mailstack makemap` against sendmail's real makemap (Debian's sendmail-bin), both ways,
/// on the seed's own maps, and against db5.3_dump.
@Suite("compatibility with sendmail's makemap")
struct SendmailCompatibilityTests {
    static let fixtures = ["access.txt", "virtusertable.txt", "mailertable.txt"]
    static let flagSets: [[String]] = [[], ["-N"], ["-f"]]

    var sendmail: [String] { [MapTestSupport.sendmailMakemap, "-C", "/dev/null"] }
    var ours: [String] { [MapTestSupport.binary("mailstack"), "makemap"] }

    @Test("sendmail's makemap is there (scripts/install-deps.sh extracts it)")
    func present() {
        #expect(FileManager.default.isExecutableFile(atPath: MapTestSupport.sendmailMakemap))
        #expect(FileManager.default.isExecutableFile(atPath: MapTestSupport.binary("mailstack")))
    }

    @Test("a map built by either tool dumps the same with either tool", arguments: fixtures, flagSets)
    func bothWays(fixture: String, flags: [String]) async throws {
        let dir = try MapTestSupport.temporaryDirectory()
        let source = try MapTestSupport.fixture(fixture)
        let byUs = dir + "/ours", bySendmail = dir + "/theirs"
        let built = try await MapTestSupport.runAsync(ours + flags + ["hash", byUs], input: source)
        #expect(built.status == 0, "\(built.stderr)")
        let theirs = try await MapTestSupport.runAsync(sendmail + flags + ["hash", bySendmail], input: source)
        #expect(theirs.status == 0, "\(theirs.stderr)")

        let reference = MapTestSupport.sortedLines(try await MapTestSupport.runAsync(sendmail + flags + ["-u", "hash", bySendmail]).stdout)
        #expect(reference.count > 0)
        // sendmail reads ours; we read sendmail's; we read ours.
        #expect(MapTestSupport.sortedLines(try await MapTestSupport.runAsync(sendmail + flags + ["-u", "hash", byUs]).stdout) == reference)
        #expect(MapTestSupport.sortedLines(try await MapTestSupport.runAsync(ours + flags + ["-u", "hash", bySendmail]).stdout) == reference)
        #expect(MapTestSupport.sortedLines(try await MapTestSupport.runAsync(ours + flags + ["-u", "hash", byUs]).stdout) == reference)
    }

    @Test("lookups in a map built by sendmail's makemap", arguments: [false, true])
    func lookupSendmailBuilt(nul: Bool) async throws {
        let dir = try MapTestSupport.temporaryDirectory()
        let result = try await MapTestSupport.runAsync(sendmail + (nul ? ["-N"] : []) + ["hash", dir + "/access"],
                                            input: try MapTestSupport.fixture("access.txt"))
        #expect(result.status == 0)
        let map = SendmailMap(path: dir + "/access", nulTerminated: nul)
        #expect(try map.lookup("127.0.0.1") == "RELAY")
        #expect(try map.lookup("82.166.100") == "REJECT")
        #expect(try map.lookup("82.166") == nil)
    }

    @Test("db5.3_dump reads our file as a hash database with makemap's keys")
    func dbDump() async throws {
        let dir = try MapTestSupport.temporaryDirectory()
        try await MapTestSupport.runAsync(ours + ["hash", dir + "/mailertable"], input: try MapTestSupport.fixture("mailertable.txt"))
        let dump = try await MapTestSupport.runAsync(["/usr/bin/db5.3_dump", "-p", dir + "/mailertable.db"])
        #expect(dump.status == 0)
        #expect(dump.stdout.contains("type=hash"))
        #expect(dump.stdout.contains(" domain.ne.jp\n smtp:[192.168.0.100]\n"))
    }

    @Test("a bad line: both tools name it; ours exits 65 and leaves the old map")
    func badLine() async throws {
        let dir = try MapTestSupport.temporaryDirectory()
        try await MapTestSupport.runAsync(ours + ["hash", dir + "/m"], input: Array("a 1\n".utf8))
        let bad = Array("b 2\n  c 3\n".utf8)
        let result = try await MapTestSupport.runAsync(ours + ["hash", dir + "/m"], input: bad)
        #expect(result.status == 65)
        #expect(result.stderr == "makemap: \(dir)/m: line 2: syntax error (leading space)\n")
        let theirs = try await MapTestSupport.runAsync(sendmail + ["hash", dir + "/s"], input: bad)
        #expect(theirs.stderr.contains("line 2: syntax error (leading space)"))
        #expect(MapTestSupport.sortedLines(try await MapTestSupport.runAsync(ours + ["-u", "hash", dir + "/m"]).stdout) == ["a\t1"])
    }
}
