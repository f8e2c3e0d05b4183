import Foundation

/// Parsers of the value kinds. Durations use sendmail's units (s, m, h, d, w; "1h30m"; a bare
/// number is seconds); sizes are octets with an optional K, M or G (1024-based). Values past
/// the bounds below are refused at load (with the file and line), never left to overflow in a
/// timer or a size computation later.
public enum ConfigParsers {
    /// Longest duration: ten years (every timer converts to nanoseconds in 64 bits).
    public static let maxDurationSeconds = 10 * 365 * 86400
    /// Largest size: 1 TiB.
    public static let maxSize = 1 << 40
    /// Largest integer (counts, ports): 2^31 - 1, so products of two stay in 64 bits.
    public static let maxInt = Int(Int32.max)

    public static func int(_ text: String) -> Int? {
        guard let value = Int(text), (0...maxInt).contains(value) else { return nil }
        return value
    }

    public static func duration(_ text: String) -> Duration? {
        let text = text.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { return nil }
        if let seconds = Int(text) {
            return (0...maxDurationSeconds).contains(seconds) ? .seconds(seconds) : nil
        }
        var total = 0
        var number = ""
        for character in text {
            if character.isASCII, character.isNumber {
                number.append(character)
                continue
            }
            guard let value = Int(number) else { return nil }
            let unit: Int
            switch character {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            case "d": unit = 86400
            case "w": unit = 604_800
            default: return nil
            }
            guard value <= maxDurationSeconds else { return nil }
            total += value * unit
            guard total <= maxDurationSeconds else { return nil }
            number = ""
        }
        guard number.isEmpty else { return nil }
        return .seconds(total)
    }

    public static func size(_ text: String) -> Int? {
        var text = text.trimmingCharacters(in: .whitespaces)
        var multiplier = 1
        if let last = text.last?.uppercased() {
            switch last {
            case "K": multiplier = 1024
            case "M": multiplier = 1024 * 1024
            case "G": multiplier = 1024 * 1024 * 1024
            default: break
            }
            if multiplier > 1 { text.removeLast() }
        }
        guard let value = Int(text), value >= 0, value <= maxSize / multiplier else { return nil }
        return value * multiplier
    }

    public static func bool(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: return nil
        }
    }

    /// Checks `value` against `key`'s kind; returns the reason it is not valid, or nil.
    static func problem(with value: ConfigValue, for key: ConfigKey) -> String? {
        switch (key.kind, value) {
        case (.list, .list): return nil
        case (.list, .scalar): return nil // a single scalar is a one-element list
        case (_, .list): return "\(key.name) takes one value, not a list"
        case let (.int, .scalar(s)):
            return int(s) == nil ? "\(key.name): '\(s.prefix(40))' is not an integer from 0 to \(maxInt)" : nil
        case let (.bool, .scalar(s)): return bool(s) == nil ? "\(key.name): '\(s.prefix(40))' is not true or false" : nil
        case let (.size, .scalar(s)):
            return size(s) == nil ? "\(key.name): '\(s.prefix(40))' is not a size up to 1T (octets, or with K, M, G)" : nil
        case (.duration, .scalar("")) where key.defaultValue == .scalar(""):
            return nil // "automatic", documented per key
        case let (.duration, .scalar(s)):
            return duration(s) == nil ? "\(key.name): '\(s.prefix(40))' is not a duration up to 3650d (like 30s, 15m, 1h, 1d)" : nil
        case let (.choice, .scalar(s)):
            return key.choices.contains(s) ? nil : "\(key.name): '\(s.prefix(40))' is not one of \(key.choices.joined(separator: " | "))"
        case (.string, .scalar), (.path, .scalar): return nil
        }
    }
}


extension Duration {
    /// The duration in the configuration's own notation: "30m", "1d", "1h30m", "0s".
    public var configText: String {
        var seconds = components.seconds
        guard seconds > 0 else { return "0s" }
        var text = ""
        for (unit, size) in [("w", Int64(604_800)), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)] where seconds >= size {
            text += "\(seconds / size)\(unit)"
            seconds %= size
        }
        return text
    }
}
