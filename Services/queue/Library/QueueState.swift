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

    public init() {}

    public func isFinished(_ index: Int) -> Bool { finished[index] != nil }

    func serialized() -> String {
        var lines = ["attempts \(attempts)", "next \(next)"]
        if warned { lines.append("warned 1") }
        if !lastError.isEmpty { lines.append("error \(QueueEnvelope.escape(lastError))") }
        for (index, outcome) in finished.sorted(by: { $0.key < $1.key }) {
            lines.append("\(outcome.rawValue) \(index)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func parse(_ text: String) -> QueueState {
        var state = QueueState()
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 1).map(String.init)
            guard fields.count == 2 else { continue }
            switch fields[0] {
            case "attempts": state.attempts = Int(fields[1]) ?? 0
            case "next": state.next = Int64(fields[1]) ?? 0
            case "warned": state.warned = fields[1] == "1"
            case "error": state.lastError = QueueEnvelope.unescape(fields[1])
            default:
                if let outcome = Outcome(rawValue: fields[0]), let index = Int(fields[1]) { state.finished[index] = outcome }
            }
        }
        return state
    }
}
