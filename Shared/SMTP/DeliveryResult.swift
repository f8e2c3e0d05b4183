/// The outcome of one delivery attempt for one recipient, as smtpfeed-out reports it and the
/// queue decides on it: the reply (a remote host's, or ours), who gave it, and what it means for
/// the notifications that follow.
public struct DeliveryResult: Equatable, Sendable, CustomStringConvertible {
    public var reply: SMTPReply
    /// Who answered: "host [address]" for remote deliveries, "local" for a Maildir, empty when
    /// nobody did.
    public var relay: String
    /// The failure was on our side: relay-policy or smtpfeed-out could not be asked.
    public var ourSide: Bool
    /// The next hop offered DSN and took our NOTIFY and ORCPT: it reports on this recipient from
    /// now on, and a "relayed" notification from us would be wrong (RFC 3461 5.2.1; 5.2.2 when
    /// it lacks DSN).
    public var dsnPassedOn: Bool

    public init(_ reply: SMTPReply, relay: String = "", ourSide: Bool = false, dsnPassedOn: Bool = false) {
        self.reply = reply
        self.relay = relay
        self.ourSide = ourSide
        self.dsnPassedOn = dsnPassedOn
    }

    /// A result from parts; a missing enhanced code is filled as `SMTPReply.defaultEnhanced`.
    public init(code: Int, enhanced: String, text: String, relay: String = "", ourSide: Bool = false, dsnPassedOn: Bool = false) {
        self.init(SMTPReply(code: code, enhanced: enhanced, text), relay: relay, ourSide: ourSide, dsnPassedOn: dsnPassedOn)
    }

    public var code: Int { reply.code }
    public var enhanced: String { reply.enhanced }
    public var text: String { reply.text }
    public var isSuccess: Bool { (200..<300).contains(reply.code) }
    public var isPermanent: Bool { reply.isPermanent }
    /// `550 5.1.1 <x@y>... User unknown`, the DSN's Diagnostic-Code text.
    public var diagnostic: String { "\(reply.code) \(reply.enhanced) \(reply.text)" }
    public var description: String { relay.isEmpty ? diagnostic : "\(diagnostic) (\(relay))" }
}
