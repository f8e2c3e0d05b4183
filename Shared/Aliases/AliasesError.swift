/// Errors of the aliases layer. Every error about a source file names the file and the line, in
/// the form `MapError` uses (`file: line N: reason`), so newaliases and makemap read alike.
public enum AliasesError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A line of an aliases file (or an :include: file) is not valid.
    case syntax(file: String, line: Int, reason: String)
    /// Several lines are not valid; nothing was written.
    case invalidSource([AliasesError])
    /// A file could not be read (missing, not a regular file, unreadable).
    case unreadable(path: String, reason: String)
    /// A file is larger than the bound for its kind.
    case tooLarge(path: String, size: Int, limit: Int)
    /// A value stored in an aliases database does not parse as a target list.
    case badValue(database: String, name: String, reason: String)

    public var description: String {
        switch self {
        case let .syntax(file, line, reason): return "\(file): line \(line): \(reason)"
        case let .invalidSource(errors): return errors.map(\.description).joined(separator: "\n")
        case let .unreadable(path, reason): return "\(path): \(reason)"
        case let .tooLarge(path, size, limit): return "\(path): too large (\(size) octets, limit \(limit))"
        case let .badValue(database, name, reason): return "\(database): alias \(name): \(reason)"
        }
    }

    /// The single errors, flattened (one for `.syntax`, each of `.invalidSource`).
    public var errors: [AliasesError] {
        if case let .invalidSource(errors) = self { return errors }
        return [self]
    }
}

/// Why one target (or a target list) is not valid; the file parser adds the file and line.
public struct AliasTargetError: Error, Equatable, Sendable, CustomStringConvertible {
    public var reason: String

    public init(_ reason: String) { self.reason = reason }

    public var description: String { reason }
}
