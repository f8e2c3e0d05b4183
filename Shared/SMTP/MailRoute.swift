/// Where mail for a remote domain goes by mailertable (sendmail's cf/README "mailertable"), as
/// relay-policy resolves it and smtpfeed-out follows it: MX routing when no entry matched, an
/// SMTP relay (`smtp:[host]` skips the MX lookup, `:port` optional), or a failure (`error:`).
public enum MailRoute: Equatable, Hashable, Sendable {
    case mx
    case smtp(host: String, mxLookup: Bool, port: Int?)
    case error(SMTPReply)
}
