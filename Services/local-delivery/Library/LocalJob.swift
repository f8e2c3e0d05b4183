/// One delivery the queue asks for: one message to one program or one file, as an alias named
/// it. The message itself travels beside it (CRLF lines, as the queue holds it).
public struct LocalJob: Sendable, Equatable {
    public enum Target: Sendable, Equatable {
        /// The command line without the leading `|`: `/usr/bin/mlmmj-receive -L /var/spool/mlmmj/info`.
        case program(String)
        /// The absolute path of a mailbox file: `/var/log/archive/mbox`.
        case file(String)
    }

    public var queueID: String
    /// The envelope sender without <>; empty for the null sender.
    public var sender: String
    /// The envelope address being delivered.
    public var recipient: String
    /// ORCPT's address, else the address before alias expansion.
    public var originalRecipient: String
    /// The alias whose right-hand side named the target.
    public var alias: String
    public var target: Target
    /// HOME for a program; empty: the run user's home, else `/`.
    public var home: String

    public init(queueID: String, sender: String, recipient: String, originalRecipient: String = "", alias: String = "",
                target: Target, home: String = "") {
        self.queueID = queueID
        self.sender = sender
        self.recipient = recipient
        self.originalRecipient = originalRecipient
        self.alias = alias
        self.target = target
        self.home = home
    }

    /// Why a job cannot be taken at all (a peer's bad request, never a mail reply): a control
    /// character in a field that reaches a program's environment, a From line or a log line; a
    /// home that is not an absolute path; an empty target.
    public var problem: String? {
        let fields = [("queue_id", queueID), ("sender", sender), ("recipient", recipient),
                      ("original_recipient", originalRecipient), ("alias", alias), ("home", home)]
        for (name, value) in fields where value.unicodeScalars.contains(where: Self.isControl) {
            return "\(name) holds a control character"
        }
        if !home.isEmpty && !home.hasPrefix("/") { return "home is not an absolute path" }
        switch target {
        case let .program(command): if command.isEmpty { return "empty program" }
        case let .file(path): if path.isEmpty { return "empty file path" }
        }
        return nil
    }

    /// C0, DEL and C1 control characters.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool { scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) }
}
