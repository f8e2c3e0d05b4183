import Foundation
import Yams

/// Reads mailstack.yaml: two levels (section, key), scalars or lists of scalars. Every key must
/// be one of `ConfigKey.all`; every value must parse as its kind. Errors name the file, the line
/// and the reason. Then the environment (`MAILSTACK_SECTION_KEY=value`) and the command line
/// (`--set section.key=value`) override single values for one run, in that order.
public enum ConfigLoader {
    public static func load(
        file: String?,
        overrides: [String] = [],
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> MailstackConfiguration {
        var values = ConfigValues()
        if let file {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw ConfigError(file: file, line: nil, reason: "cannot read: \((error as NSError).localizedDescription)")
            }
            for (name, entry) in try parse(text, file: file) {
                values.set(name, entry.value, source: .file(path: file, line: entry.line))
            }
        }
        for key in ConfigKey.all {
            guard let text = environment[key.environmentName] else { continue }
            let value = Self.value(fromOverride: text, kind: key.kind)
            if let problem = ConfigParsers.problem(with: value, for: key) {
                throw ConfigError(file: "environment", line: nil, reason: "\(key.environmentName): \(problem)")
            }
            values.set(key.name, value, source: .environment(key.environmentName))
        }
        for override in overrides {
            guard let equals = override.firstIndex(of: "=") else {
                throw ConfigError(file: "command line", line: nil, reason: "--set \(override): expected section.key=value")
            }
            let name = String(override[..<equals])
            guard let key = ConfigKey.named(name) else {
                throw ConfigError(file: "command line", line: nil, reason: "--set \(name): unknown key")
            }
            let value = Self.value(fromOverride: String(override[override.index(after: equals)...]), kind: key.kind)
            if let problem = ConfigParsers.problem(with: value, for: key) {
                throw ConfigError(file: "command line", line: nil, reason: problem)
            }
            values.set(name, value, source: .commandLine)
        }
        let configuration = MailstackConfiguration(values: values)
        try configuration.validate(file: file ?? "defaults")
        return configuration
    }

    /// An override's text: lists are comma-separated (an empty string is an empty list).
    static func value(fromOverride text: String, kind: ConfigKey.Kind) -> ConfigValue {
        guard kind == .list else { return .scalar(text) }
        return .list(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
    }

    /// Parses the YAML text into key -> (value, line), checking names and kinds.
    public static func parse(_ text: String, file: String) throws -> [(name: String, entry: (value: ConfigValue, line: Int))] {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw Self.error(from: error, file: file)
        }
        guard let root else { return [] }
        guard case let .mapping(sections) = root else {
            throw ConfigError(file: file, line: root.mark?.line, reason: "the file must be a mapping of sections (host:, smtp:, ...)")
        }
        var result: [(name: String, entry: (value: ConfigValue, line: Int))] = []
        var seen: [String: Int] = [:]
        for (sectionNode, body) in sections {
            let section = sectionNode.string ?? ""
            let sectionLine = sectionNode.mark?.line ?? 0
            guard ConfigKey.all.contains(where: { $0.name.hasPrefix(section + ".") }) else {
                throw ConfigError(file: file, line: sectionLine, reason: "unknown section '\(section)'")
            }
            if case .scalar = body, body.string == "" { continue } // an empty section
            guard case let .mapping(keys) = body else {
                throw ConfigError(file: file, line: sectionLine, reason: "section '\(section)' must be a mapping of keys")
            }
            for (keyNode, valueNode) in keys {
                let name = section + "." + (keyNode.string ?? "")
                let line = keyNode.mark?.line ?? sectionLine
                guard let key = ConfigKey.named(name) else {
                    throw ConfigError(file: file, line: line, reason: "unknown key '\(name)'")
                }
                if let first = seen[name] {
                    throw ConfigError(file: file, line: line, reason: "'\(name)' is set twice (first on line \(first))")
                }
                seen[name] = line
                let value: ConfigValue
                switch valueNode {
                case let .scalar(scalar):
                    value = .scalar(scalar.string)
                case let .sequence(items):
                    var list: [String] = []
                    for item in items {
                        guard case let .scalar(scalar) = item else {
                            throw ConfigError(file: file, line: item.mark?.line ?? line, reason: "\(name): list items must be plain values")
                        }
                        list.append(scalar.string)
                    }
                    value = .list(list)
                default:
                    throw ConfigError(file: file, line: line, reason: "\(name): expected a value or a list, found a mapping")
                }
                if let problem = ConfigParsers.problem(with: value, for: key) {
                    throw ConfigError(file: file, line: line, reason: problem)
                }
                result.append((name, (value, line)))
            }
        }
        return result
    }

    static func error(from error: YamlError, file: String) -> ConfigError {
        switch error {
        case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
            return ConfigError(file: file, line: mark.line, reason: "YAML syntax: \(problem)")
        case let .reader(problem, _, _, _):
            return ConfigError(file: file, line: nil, reason: "YAML: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            return ConfigError(file: file, line: context.mark.line,
                               reason: "set twice in one section: \(duplicates.joined(separator: ", "))")
        default:
            return ConfigError(file: file, line: nil, reason: "YAML: \(error)")
        }
    }
}

/// Resolved values: the defaults, then the file, the environment and the command line.
public struct ConfigValues: Sendable {
    var entries: [String: (value: ConfigValue, source: ConfigSource)]

    public init() {
        entries = Dictionary(uniqueKeysWithValues: ConfigKey.all.map { ($0.name, ($0.defaultValue, ConfigSource.defaultValue)) })
    }

    mutating func set(_ name: String, _ value: ConfigValue, source: ConfigSource) {
        entries[name] = (value, source)
    }

    public func source(_ name: String) -> ConfigSource { entries[name]?.source ?? .defaultValue }

    public func value(_ name: String) -> ConfigValue {
        guard let entry = entries[name] else { preconditionFailure("no configuration key \(name)") }
        return entry.value
    }

    public func string(_ name: String) -> String {
        switch value(name) {
        case let .scalar(s): return s
        case let .list(l): return l.joined(separator: ",")
        }
    }

    public func list(_ name: String) -> [String] {
        switch value(name) {
        case let .scalar(s): return s.isEmpty ? [] : [s]
        case let .list(l): return l
        }
    }

    // The loader validated every value against its kind; these cannot fail afterwards.
    public func int(_ name: String) -> Int { ConfigParsers.int(string(name))! }
    public func bool(_ name: String) -> Bool { ConfigParsers.bool(string(name))! }
    public func size(_ name: String) -> Int { ConfigParsers.size(string(name))! }
    public func duration(_ name: String) -> Duration { ConfigParsers.duration(string(name))! }
}

extension ConfigValues {
    /// The line a value came from in its file, or 0.
    public func sourceLine(_ name: String) -> Int {
        if case let .file(_, line) = source(name) { return line }
        return 0
    }
}
