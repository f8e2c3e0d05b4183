/// A queued message's delivery progress: which recipients are finished (delivered, or failed and
/// reported), how many attempts were made, when the next one is due, whether the delay warning
/// went out. Kept in its own small file beside the message, replaced atomically after each
/// attempt, so a delivered recipient is never sent again after a restart.
public struct QueueState: Equatable, Sendable {
    public enum Outcome: String, Sendable {
        /// Delivered (2xx); a success DSN, if asked for, is already queued.
        case delivered
        /// Failed for good (5xx or expired); the bounce, if any, is already queued.
        case failed
    }

    public var attempts = 0
    /// Epoch seconds of the next attempt; 0: as soon as possible.
    public var next: Int64 = 0
    public var warned = false
    public var lastError = ""
    /// Finished recipients by index in the envelope.
    public var finished: [Int: Outcome] = [:]
    /// Finished targets of recipients not yet finished (an alias's list partly delivered), by
    /// recipient index and `MailTarget.key`: a retry never repeats them.
    public var targets: [Int: [String: Outcome]] = [:]

    public init() {}

    public func isFinished(_ index: Int) -> Bool { finished[index] != nil }

    /// The state file: `SpoolText` records, one per line.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        SpoolText.appendRecord("attempts", [String(attempts)], to: &out)
        SpoolText.appendRecord("next", [String(next)], to: &out)
        if warned { SpoolText.appendRecord("warned", ["1"], to: &out) }
        if !lastError.isEmpty { SpoolText.appendRecord("error", [lastError], to: &out) }
        for (index, outcome) in finished.sorted(by: { $0.key < $1.key }) {
            SpoolText.appendRecord(outcome.rawValue, [String(index)], to: &out)
        }
        for (index, done) in targets.sorted(by: { $0.key < $1.key }) {
            for (key, outcome) in done.sorted(by: { $0.key < $1.key }) {
                SpoolText.appendRecord("target", [outcome.rawValue, String(index), key], to: &out)
            }
        }
        return out
    }

    /// Reads a state file, on octets. A line that does not read is skipped: the state only
    /// saves work (a recipient not known to be finished is tried again), it never loses mail.
    public static func parse(_ bytes: ArraySlice<UInt8>) -> QueueState {
        var state = QueueState()
        for line in SpoolText.lines(bytes) {
            let fields = SpoolText.fields(line)
            if fields.count == 4, fields[0].elementsEqual("target".utf8) {
                if let outcome = Outcome(rawValue: String(decoding: fields[1], as: UTF8.self)),
                   let index: Int = SpoolText.integer(fields[2]), let key = SpoolText.unescape(fields[3]) {
                    state.targets[index, default: [:]][key] = outcome
                }
                continue
            }
            guard fields.count == 2 else { continue }
            let value = fields[1]
            switch String(decoding: fields[0], as: UTF8.self) {
            case "attempts": state.attempts = SpoolText.integer(value) ?? 0
            case "next": state.next = SpoolText.integer(value) ?? 0
            case "warned": state.warned = value.elementsEqual("1".utf8)
            case "error": state.lastError = SpoolText.unescape(value) ?? ""
            case let word:
                if let outcome = Outcome(rawValue: word), let index: Int = SpoolText.integer(value) { state.finished[index] = outcome }
            }
        }
        return state
    }
}
