import ArgumentParser
import Foundation
import MailstackAliases
import MailstackMaps

/// `mailstack newaliases [-C config] [FILE]`: sendmail's newaliases. Builds FILE.db (default
/// /etc/mail/aliases.db) from the aliases file in sendmail's layout, atomically; a file with any
/// bad line writes nothing (exit 65, every bad line named). Prints sendmail's summary line.
struct NewAliasesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "newaliases",
        abstract: "Build aliases.db from the aliases file, as sendmail's newaliases."
    )

    @Option(name: .customShort("C"), help: "Ignored (sendmail's configuration file), for drop-in use.") var sendmailConfig: String?
    @Flag(help: "Load the aliases into the shared PostgreSQL tables (map aliases) instead of FILE.db.") var pgsql = false
    @Option(help: "Configuration file, for --pgsql (default: /etc/mailstack/mailstack.yaml if it exists).") var config: String?
    @Option(name: .customLong("set"), help: "Override one configuration key, for --pgsql: section.key=value.") var overrides: [String] = []
    @Argument(help: "The aliases file; the database is FILE.db.") var file = "/etc/mail/aliases"

    func run() async throws {
        do {
            if pgsql {
                let parsed = try NewAliases.read(source: file)
                _ = try await MakeMapCommand.load(NewAliases.records(parsed), map: "aliases", config: config, overrides: overrides)
                FileHandle.standardError.write(Data((NewAliases.statistics(parsed).summary(for: file) + "\n").utf8))
                return
            }
            let statistics = try NewAliases.build(source: file)
            FileHandle.standardError.write(Data((statistics.summary(for: file) + "\n").utf8))
        } catch let error as AliasesError {
            report(error.description)
            if case .unreadable = error { throw ExitCode(66) } // EX_NOINPUT
            throw ExitCode(65) // EX_DATAERR, as our makemap
        } catch let error as MapError {
            report(error.description)
            throw ExitCode(73) // EX_CANTCREAT
        }
    }

    func report(_ text: String) {
        FileHandle.standardError.write(Data(text.split(separator: "\n").map { "newaliases: \($0)\n" }.joined().utf8))
    }
}
