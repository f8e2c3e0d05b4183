import Foundation
import MailstackConfig

/// The configuration loader on any mailstack.yaml, as a service loads it (no environment).
/// Properties: a file that loads has every value readable as its key's kind (the accessors
/// cannot fail afterwards); `parse` and `load` agree; every error names the file.
func fuzzConfig(_ bytes: [UInt8]) {
    let directory = scratchDirectory("config")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let file = directory + "/mailstack.yaml"
    _ = FileManager.default.createFile(atPath: file, contents: Data(bytes))
    let parsed = try? ConfigLoader.parse(String(decoding: bytes, as: UTF8.self), file: file)
    do {
        let configuration = try ConfigLoader.load(file: file, environment: [:])
        check(parsed != nil || String(data: Data(bytes), encoding: .utf8) == nil, "load accepted what parse refused")
        let values = configuration.values
        for key in ConfigKey.all {
            switch key.kind {
            case .int: _ = values.int(key.name)
            case .bool: _ = values.bool(key.name)
            case .size: _ = values.size(key.name)
            case .duration where values.string(key.name) != "": _ = values.duration(key.name)
            default: _ = values.list(key.name)
            }
        }
    } catch let error as ConfigError {
        check(error.file == file, "an error without the file: \(error)")
    } catch {
        violated("load threw \(error)")
    }
}

/// import-mc on any sendmail.mc. Properties: every translated key exists; the YAML it writes
/// parses (Yams, through the loader) to exactly the translated values when they are valid for
/// their keys, and is refused only for a value that is not; the file with CRLF line ends
/// imports the same values from the same lines.
func fuzzImportMC(_ bytes: [UInt8]) {
    let lf = bytes.filter { $0 != 0x0D }
    let crlf = lf.flatMap { $0 == 0x0A ? [0x0D, 0x0A] : [$0] }
    let fromLF = MCImporter.importMC(String(decoding: lf, as: UTF8.self))
    let fromCRLF = MCImporter.importMC(String(decoding: crlf, as: UTF8.self))
    check(fromLF.values.map { "\($0.name)=\($0.value)@\($0.line)" } == fromCRLF.values.map { "\($0.name)=\($0.value)@\($0.line)" },
          "the .mc with CRLF line ends imports differently")
    let importer = MCImporter.importMC(String(decoding: bytes, as: UTF8.self))
    _ = importer.report(source: "sendmail.mc")
    let yaml = importer.yaml(source: "sendmail.mc")
    var expected: [String: ConfigValue] = [:]
    for (name, value, _) in importer.values {
        guard ConfigKey.named(name) != nil else { violated("import-mc set the unknown key \(name)") }
        expected[name] = value
    }
    let allValid = importer.values.allSatisfy { isValid($0.value, for: ConfigKey.named($0.name)!) }
    do {
        let parsed = try ConfigLoader.parse(yaml, file: "mailstack.yaml")
        var got: [String: ConfigValue] = [:]
        for (name, entry) in parsed { got[name] = entry.value }
        check(got == expected, "import-mc's YAML reads back differently:\n\(expected)\n\(got)\n\(yaml.debugDescription)")
    } catch {
        check(!allValid, "import-mc's YAML does not load: \(error)\n\(yaml.debugDescription)")
    }
}

/// The loader's check of a value against its key's kind, from the public parsers.
func isValid(_ value: ConfigValue, for key: ConfigKey) -> Bool {
    guard case let .scalar(s) = value else { return key.kind == .list }
    switch key.kind {
    case .int: return ConfigParsers.int(s) != nil
    case .bool: return ConfigParsers.bool(s) != nil
    case .size: return ConfigParsers.size(s) != nil
    case .duration: return ConfigParsers.duration(s) != nil || (s.isEmpty && key.defaultValue == .scalar(""))
    case .choice: return key.choices.contains(s)
    case .string, .path, .list: return true
    }
}
