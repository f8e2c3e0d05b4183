// mailstack: the administrator's command-line tool.
//
// Subcommands: makemap (sendmail-compatible map builder), check-config, import-mc (sendmail.mc
// to mailstack.yaml), config-doc (the documented key table). Needs no running service; runs as
// any user that may read the files it is given.

import ArgumentParser

@main
struct Mailstack: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mailstack",
        abstract: "Administer a mailstack mail server.",
        subcommands: [MakeMapCommand.self, CheckConfigCommand.self, ImportMCCommand.self, ConfigDocCommand.self]
    )
}
