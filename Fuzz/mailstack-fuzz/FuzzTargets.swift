/// One fuzz target: takes the input octets, checks its properties, returns (or stops the process
/// with `violated`).
typealias FuzzTarget = @Sendable ([UInt8]) -> Void

enum FuzzTargets {
    /// Every target by name; each is one function in its own file.
    static let all: [String: FuzzTarget] = [
        "smtp-command": fuzzSMTPCommand,
        "smtp-xtext": fuzzXText,
        "smtp-hop-counter": fuzzHopCounter,
        "smtp-input": fuzzSMTPInput,
        "smtp-reply": fuzzSMTPReply,
        "sasl": fuzzSASL,
        "pop3-line": fuzzPOP3Line,
        "pop3-command": fuzzPOP3Command,
        "ipc-frame": fuzzIPCFrame,
        "ipc-codec": fuzzIPCCodec,
        "spool": fuzzSpool,
        "spool-file": fuzzSpoolFile,
        "header-rewriter": fuzzHeaderRewriter,
        "dsn": fuzzDSN,
        "access": fuzzAccess,
        "virtusertable": fuzzVirtusertable,
        "mailertable": fuzzMailertable,
        "passwd-file": fuzzPasswdFile,
        "makemap": fuzzMakeMap,
        "class-file": fuzzClassFile,
        "config": fuzzConfig,
        "import-mc": fuzzImportMC,
        "aliases": fuzzAliases,
        "program-command": fuzzProgramCommand,
        "sendmail-recipients": fuzzSendmailRecipients,
        "local-message": fuzzLocalMessage,
        "spf-record": fuzzSPFRecord,
        "spf-macro": fuzzSPFMacro,
        "dmarc-record": fuzzDMARCRecord,
        "mbox": fuzzMbox,
        "maildir-name": fuzzMaildirName,
        "pop3-message": fuzzPOP3Message,
        "dkim-signature": fuzzDKIMSignature,
    ]

    /// The target this process runs (set once in `main`, before libFuzzer starts).
    nonisolated(unsafe) static var selected: FuzzTarget?
}
