// mailstack: the administrator's command-line tool.
//
// Subcommands: makemap (sendmail-compatible map builder), newaliases (aliases.db, as sendmail's),
// check-config, import-mc (sendmail.mc to mailstack.yaml), config-doc (the documented key table)
// need no running service; drac talks to drac-registry over its socket. Runs as any user that
// may read the files it is given.

import ArgumentParser

@main
struct Mailstack: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mailstack",
        abstract: "Administer a mailstack mail server.",
        subcommands: [MakeMapCommand.self, NewAliasesCommand.self, CheckConfigCommand.self, ImportMCCommand.self, ConfigDocCommand.self,
                      DracCommand.self, MailqCommand.self, FlushCommand.self, ImportMboxCommand.self]
    )
}
