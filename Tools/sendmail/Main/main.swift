// sendmail (and mailq, newaliases by their names): mail submission for every local program.
// The logic is SendmailCommand's (Tools/sendmail/Library); see Sendmail.swift for its peers,
// privileges, limits and exit codes.

#if canImport(Glibc)
import Glibc
#endif
import SendmailCommand

signal(SIGPIPE, SIG_IGN)
exit(await Sendmail.run(CommandLine.arguments))
