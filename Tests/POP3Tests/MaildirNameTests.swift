import Maildir
import Testing

/// How pop3 reads a name in cur/ (`Maildir.parseName`, on octets). The fuzz target
/// `maildir-name` checks it against the Character-based reading it replaced on any ASCII name.
@Suite("Maildir names")
struct MaildirNameTests {
    func read(_ name: String) -> (unique: String, wire: Int?, seconds: Int, micros: Int, sequence: Int) {
        let parsed = Maildir.parseName(name)
        return (parsed.unique, parsed.wireSize, parsed.key.seconds, parsed.key.micros, parsed.key.sequence)
    }

    @Test("the queue's names: unique part, W= size, arrival time and sequence")
    func queueNames() {
        #expect(read("1700000000.M99812P7Q1.host,S=120,W=124:2,") == ("1700000000.M99812P7Q1.host,S=120,W=124", 124, 1_700_000_000, 99812, 1))
        #expect(read("1700000000.M100234P7Q10.h,S=1,W=2:2,S") == ("1700000000.M100234P7Q10.h,S=1,W=2", 2, 1_700_000_000, 100_234, 10))
    }

    @Test("other programs' names: no W= (measured instead), no sequence, no M part")
    func foreignNames() {
        #expect(read("1700000000.M1P1.bench:2,") == ("1700000000.M1P1.bench", nil, 1_700_000_000, 1, 0))
        #expect(read("123.foreign") == ("123.foreign", nil, 0, 0, 0))
        #expect(read("1,W=,W=4:2,") == ("1,W=,W=4", nil, 0, 0, 0)) // the first W= decides, as before
        #expect(read("a,,W=5") == ("a,,W=5", 5, 0, 0, 0))
        #expect(read(",W=5") == (",W=5", nil, 0, 0, 0))
    }

    @Test("odd names read as Int(String) and split(separator:) read them, and never trap")
    func oddNames() {
        #expect(read("::") == ("", nil, 0, 0, 0)) // trapped before (the first of no parts)
        #expect(read(":2,") == ("2,", nil, 0, 0, 0))
        #expect(read("-5.M-3Q+4.x") == ("-5.M-3Q+4.x", nil, -5, 0, 0))
        #expect(read("9223372036854775807.M99999999999999999999Q1.x").seconds == Int.max)
        #expect(read("9223372036854775808.M1.x").seconds == 0)
        #expect(read("1..M5.x") == ("1..M5.x", nil, 1, 5, 0))
        #expect(read("") == ("", nil, 0, 0, 0))
    }
}
