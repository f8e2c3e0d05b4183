import ArgumentParser
import Foundation
import MailstackConfig

/// `mailstack check-config [FILE] [--set k=v]...`: loads the configuration as a service would
/// and prints the effective values; a bad file exits 78 (EX_CONFIG) with file, line and reason.
struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check a configuration file and print the effective values."
    )

    @Argument(help: "The configuration file (default: /etc/mailstack/mailstack.yaml).")
    var file = "/etc/mailstack/mailstack.yaml"
    @Option(name: .customLong("set"), help: "Override one key for this run: section.key=value.")
    var overrides: [String] = []
    @Flag(help: "Print nothing when the file is valid.") var quiet = false

    func run() throws {
        do {
            let config = try ConfigLoader.load(file: file, overrides: overrides)
            guard !quiet else { return }
            for key in ConfigKey.all {
                print("\(key.name) = \(config.values.value(key.name))    (\(config.values.source(key.name)))")
            }
            print("\(file): OK")
        } catch let error as ConfigError {
            FileHandle.standardError.write(Data("mailstack: \(error)\n".utf8))
            throw ExitCode(78)
        }
    }
}

/// `mailstack import-mc sendmail.mc [-o FILE]`: the configuration on stdout (or FILE), the
/// report of every directive on stderr.
struct ImportMCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-mc",
        abstract: "Translate a sendmail.mc into mailstack.yaml and report every directive."
    )

    @Argument(help: "The sendmail.mc file.") var mc: String
    @Option(name: .shortAndLong, help: "Write the configuration here instead of stdout.") var output: String?
    @Flag(help: "Exit 1 when a directive is unsupported.") var strict = false

    func run() throws {
        let text: String
        do {
            text = try String(contentsOfFile: mc, encoding: .utf8)
        } catch {
            throw ValidationError("cannot read \(mc): \(error.localizedDescription)")
        }
        let importer = MCImporter.importMC(text)
        let yaml = importer.yaml(source: mc)
        // What we write must load: check it as a service would.
        _ = try ConfigLoader.parse(yaml, file: output ?? "(imported)")
        if let output {
            try yaml.write(toFile: output, atomically: true, encoding: .utf8)
        } else {
            print(yaml, terminator: "")
        }
        FileHandle.standardError.write(Data((importer.report(source: mc) + "\n").utf8))
        let unsupported = importer.findings.filter { if case .unsupported = $0.outcome { return true } else { return false } }
        if strict && !unsupported.isEmpty { throw ExitCode(1) }
    }
}

/// `mailstack config-doc`: docs/configuration.md, generated from the key table.
struct ConfigDocCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config-doc",
        abstract: "Print the reference of every configuration key (Markdown)."
    )

    func run() { print(ConfigDocumentation.markdown(), terminator: "") }
}
