/// Errors of the map layer. Every error about a source file names the file and the line.
public enum MapError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Berkeley DB refused an operation on `path`.
    case database(path: String, operation: String, code: Int32, message: String)
    /// A line of a text map is not valid.
    case syntax(file: String, line: Int, reason: String)
    /// Several lines are not valid; nothing was written.
    case invalidSource([MapError])
    /// A map needed for lookups does not exist (yet).
    case missing(path: String)

    public var description: String {
        switch self {
        case let .database(path, operation, code, message): return "\(path): \(operation): \(message) (\(code))"
        case let .syntax(file, line, reason): return "\(file): line \(line): \(reason)"
        case let .invalidSource(errors): return errors.map(\.description).joined(separator: "\n")
        case let .missing(path): return "\(path): map does not exist"
        }
    }
}
