import Foundation
import QueueService
import SMTP
import TestSupport
import Testing

/// SplitMix64: a small seeded generator, so a failing case is reproduced by its seed
/// (`SPOOL_SEED=<n> swift test --skip-build --filter SpoolPropertyTests`).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random but valid spool contents: every text field any Unicode scalars (controls, CR, LF, NUL,
/// `%`, spaces, combining marks at the start, emoji sequences, noncharacters), lengths up to and
/// at each field's largest size, numbers at their bounds.
struct SpoolGenerator {
    var random: SeededGenerator

    /// Where scalars are drawn from: each range is as likely as the others.
    static let scalarRanges: [ClosedRange<UInt32>] = [
        0x00...0x1F, 0x20...0x7E, 0x25...0x25, 0x7F...0x9F, 0xA0...0x2FF, 0x300...0x36F, 0x200B...0x200F,
        0x2028...0x2029, 0xFE00...0xFE0F, 0xFFF0...0xFFFF, 0x1F1E6...0x1F1FF, 0x1F300...0x1FAFF, 0x0...0x10FFFF,
    ]

    mutating func scalar() -> Unicode.Scalar {
        while true {
            let range = Self.scalarRanges.randomElement(using: &random)!
            if let scalar = Unicode.Scalar(UInt32.random(in: range, using: &random)) { return scalar }
        }
    }

    /// Text of at most `maxOctets` UTF-8 octets: empty or full-size one time in ten each, and a
    /// leading combining mark one time in five.
    mutating func text(_ maxOctets: Int) -> String {
        let target: Int
        switch Int.random(in: 0..<10, using: &random) {
        case 0: return ""
        case 1: target = maxOctets
        default: target = Int.random(in: 0...maxOctets, using: &random)
        }
        var scalars = String.UnicodeScalarView()
        var octets = 0
        if Int.random(in: 0..<5, using: &random) == 0, target >= 2 {
            scalars.append(Unicode.Scalar(UInt32.random(in: 0x300...0x36F, using: &random))!)
            octets = 2
        }
        while octets < target {
            let next = scalar()
            let length = String(next).utf8.count
            if octets + length > target {
                if target - octets >= 1 { scalars.append("%"); octets += 1 }
                continue
            }
            scalars.append(next)
            octets += length
        }
        return String(scalars)
    }

    mutating func id(_ index: Int) -> String {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        return "P\(index)" + String((0..<8).map { _ in alphabet.randomElement(using: &random)! })
    }

    /// One of `bounds` one time in four, else a number in `range`.
    mutating func pick<T: FixedWidthInteger>(_ bounds: [T], or range: ClosedRange<T>) -> T {
        Int.random(in: 0..<4, using: &random) == 0 ? bounds.randomElement(using: &random)! : T.random(in: range, using: &random)
    }

    mutating func envelope(_ index: Int) -> QueueEnvelope {
        let count = pick([1, 100], or: 1...4)
        var recipients: [QueueEnvelope.Recipient] = []
        for _ in 0..<count {
            let notify = pick([0, 15, UInt32.max], or: 0...15)
            recipients.append(.init(address: text(254), notify: DSNNotify(rawValue: notify), orcpt: text(500)))
        }
        let arrival = pick([1, Int64.max], or: 1...4_000_000_000)
        var envelope = QueueEnvelope(id: id(index), arrival: arrival, sender: text(254), recipients: recipients)
        envelope.envid = text(100)
        envelope.ret = [nil, DSNReturn.full, .headers].randomElement(using: &random)!
        envelope.body = [nil, SMTPBodyType.sevenBit, .eightBitMIME].randomElement(using: &random)!
        envelope.smtputf8 = Bool.random(using: &random)
        envelope.clientAddress = text(45)
        envelope.clientName = text(255)
        envelope.helo = text(500)
        return envelope
    }

    mutating func state(recipients: Int) -> QueueState {
        var state = QueueState()
        state.attempts = pick([0, Int.max], or: 0...50)
        state.next = pick([0, Int64.max, Int64.min], or: 0...4_000_000_000)
        state.warned = Bool.random(using: &random)
        state.lastError = text(1000)
        for index in 0..<recipients where Bool.random(using: &random) {
            state.finished[index] = Bool.random(using: &random) ? .delivered : .failed
        }
        return state
    }

    /// Any octets, including what looks like header lines, empty lines and the spool's end marker.
    mutating func body() -> [UInt8] {
        var bytes = (0..<Int.random(in: 0...3000, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
        if Bool.random(using: &random) { bytes += Array("\n\nmailstack-end 0000000000000000\n".utf8) }
        return bytes
    }
}

@Suite("queue: spool round trips of random envelopes and states")
struct SpoolPropertyTests {
    static let seed = ProcessInfo.processInfo.environment["SPOOL_SEED"].flatMap { UInt64($0) } ?? 0x5EED_2026_1129

    @Test("random envelopes, bodies and states are written, recovered after a restart and equal octet for octet")
    func roundTrip() async throws {
        var generator = SpoolGenerator(random: SeededGenerator(state: Self.seed))
        let spool = try TestSpool()
        var written: [String: (envelope: QueueEnvelope, body: [UInt8], state: QueueState)] = [:]
        for batch in 0..<10 {
            let messages = (0..<40).map { i in
                let envelope = generator.envelope(batch * 40 + i)
                return (envelope: envelope, body: generator.body(), state: generator.state(recipients: envelope.recipients.count))
            }
            // Written side by side, as concurrent submissions are.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for message in messages {
                    group.addTask {
                        try await spool.store(message.envelope, body: message.body)
                        try await spool.spool.write(message.state, of: message.envelope.id)
                    }
                }
                try await group.waitForAll()
            }
            for message in messages { written[message.envelope.id] = message }
        }
        let (again, recovered, corrupt) = try await spool.restarted()
        #expect(corrupt.isEmpty, "seed \(Self.seed): \(corrupt.prefix(3))")
        #expect(recovered.count == written.count, "seed \(Self.seed)")
        for stored in recovered {
            guard let original = written[stored.envelope.id] else {
                Issue.record("seed \(Self.seed): unknown id \(stored.envelope.id)")
                continue
            }
            let id = original.envelope.id
            if let difference = firstDifference(octets(original.envelope), octets(stored.envelope)) {
                Issue.record("seed \(Self.seed), message \(id): envelope \(difference)")
            }
            if let difference = firstDifference(octets(original.state), octets(stored.state)) {
                Issue.record("seed \(Self.seed), message \(id): state \(difference)")
            }
            let body = try await again.spool.body(of: id, at: stored.location)
            #expect(body == original.body, "seed \(Self.seed), message \(id): body")
        }
        try await again.close()
    }
}
