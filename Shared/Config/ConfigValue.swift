/// A configuration value as written: one scalar, or a list of scalars.
public enum ConfigValue: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, CustomStringConvertible {
    case scalar(String)
    case list([String])

    public init(stringLiteral value: String) { self = .scalar(value) }
    public init(arrayLiteral elements: String...) { self = .list(elements) }

    public var description: String {
        switch self {
        case let .scalar(s): return s
        case let .list(l): return "[" + l.joined(separator: ", ") + "]"
        }
    }
}

/// Where a value came from, for error messages and `check-config`.
public enum ConfigSource: Sendable, Equatable, CustomStringConvertible {
    case defaultValue
    case file(path: String, line: Int)
    case environment(String)
    case commandLine

    public var description: String {
        switch self {
        case .defaultValue: return "default"
        case let .file(path, line): return "\(path):\(line)"
        case let .environment(name): return "environment \(name)"
        case .commandLine: return "command line"
        }
    }
}

/// A configuration that cannot be used: which file, which line, why.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var reason: String

    public init(file: String, line: Int?, reason: String) {
        self.file = file
        self.line = line
        self.reason = reason
    }

    public var description: String {
        if let line { return "\(file):\(line): \(reason)" }
        return "\(file): \(reason)"
    }
}
