/// One place a recipient's mail goes, as relay-policy resolves it (virtusertable, aliases,
/// mailertable, the passwd-file) and the queue delivers it. An alias that names a list resolves
/// one recipient to many targets; each is delivered and remembered on its own, so a retry never
/// repeats a delivery that was made.
public struct MailTarget: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// A passwd-file user's Maildir.
        case mailbox(String)
        /// An address for smtpfeed-out, with mailertable's route for its domain.
        case remote(address: String, route: MailRoute)
        /// An alias's `"|command"`, run by local-delivery.
        case program(String)
        /// An alias's `/path`, appended to by local-delivery.
        case file(String)
        /// `error:` of virtusertable, mailertable or an alias; an unknown user; a loop.
        case error(SMTPReply)
    }

    public var kind: Kind
    /// The alias the target came from; empty when none did.
    public var alias: String
    /// The envelope sender for this delivery (owner-LIST@domain); nil keeps the message's.
    public var sender: String?

    public init(_ kind: Kind, alias: String = "", sender: String? = nil) {
        self.kind = kind
        self.alias = alias
        self.sender = sender
    }

    /// What the queue's state remembers a finished delivery by: stable across attempts for the
    /// same resolution.
    public var key: String {
        switch kind {
        case let .mailbox(user): "mailbox:" + user
        case let .remote(address, _): "remote:" + address
        case let .program(command): "program:" + command
        case let .file(path): "file:" + path
        case let .error(reply): "error:\(reply.code)"
        }
    }

    /// The address or target as a DSN and the log name it ("you", "a@b.test", "|/usr/bin/x").
    public var description: String {
        switch kind {
        case let .mailbox(user): user
        case let .remote(address, _): address
        case let .program(command): "|" + command
        case let .file(path): path
        case let .error(reply): "error:\(reply.enhanced)"
        }
    }
}
