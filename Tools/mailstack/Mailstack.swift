// mailstack: the administrator's command-line tool (main.swift: and every service, by name).
//
// Subcommands: makemap (sendmail-compatible map builder), newaliases (aliases.db, as sendmail's),
// check-config, import-mc (sendmail.mc to mailstack.yaml), config-doc (the documented key table),
// dkim keygen (a signing key and its DNS record) need no running service; drac talks to drac-registry over its socket. Runs as any user that
// may read the files it is given.

import ArgumentParser

struct Mailstack: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mailstack",
        abstract: "Administer a mailstack mail server.",
        subcommands: [MakeMapCommand.self, NewAliasesCommand.self, CheckConfigCommand.self, ImportMCCommand.self, ConfigDocCommand.self,
                      DracCommand.self, MailqCommand.self, FlushCommand.self, ImportMboxCommand.self, DKIMCommand.self]
    )
}

extension Mailstack {
    /// What `@main` on Mailstack would do (main.swift also starts the services by their names).
    /// `Mailstack.main()` called from main.swift finds ParsableCommand's synchronous one, which
    /// refuses an asynchronous command.
    static func runAsTool() async {
        do {
            var command = try await asyncParseAsRoot(nil)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
