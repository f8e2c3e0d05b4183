/// One SMTP command line split into its verb and argument (RFC 5321 section 4.1.1), the one
/// definition that smtp-in's input decoder and its session both use, so they can never disagree
/// about which command a line is (a `DATA ` with a trailing space held by one and not the other
/// was a way to smuggle input past the decoder's mode switch).
///
///     command  = verb [SP argument] CRLF
///     verb     = 1*(ALPHA)                 ; compared case-insensitively
///
/// The verb is everything up to the first space, upper-cased; the argument is what follows with
/// leading spaces dropped (sendmail and Postfix tolerate several).
public struct SMTPCommandLine: Sendable, Equatable {
    public let verb: String
    public let argument: Substring

    public init(_ line: String) {
        let verbText = line.prefix { $0 != " " }
        verb = verbText.uppercased()
        argument = line[verbText.endIndex...].drop { $0 == " " }
    }

    /// After these the client must wait for our reply before it sends anything more (RFC 2920
    /// section 3.1; RFC 3207 section 4.2): input is held (DATA) or discarded (STARTTLS) until the
    /// session has answered, whatever the argument, so the session always releases it.
    public var endsPipelinedGroup: Bool { verb == "DATA" || verb == "STARTTLS" }
}

extension String {
    /// Whether the text holds a control character (C0 or DEL): refused in what a client names
    /// (HELO, ENVID, ORCPT) before it can reach a header or a log line.
    public var containsControlCharacter: Bool {
        utf8.contains { $0 < 0x20 || $0 == 0x7F }
    }
}
