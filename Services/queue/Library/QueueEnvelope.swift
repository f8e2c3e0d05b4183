import IPC
import IPCTransport
import SMTP

/// A queued message's envelope: what smtp-in received with the message (RFC 5321 and the DSN,
/// 8BITMIME and SMTPUTF8 parameters), plus the queue id and arrival time. It is the header of
/// the spool file, written once and never changed; delivery progress lives in `QueueState`.
public struct QueueEnvelope: Equatable, Sendable {
    public typealias Recipient = EnvelopeRecipient

    public var id: String
    /// Epoch seconds.
    public var arrival: Int64
    /// Without <>; empty for the null sender.
    public var sender: String
    public var recipients: [Recipient]
    public var envid: String = ""
    /// Nil when not given.
    public var ret: DSNReturn?
    /// Nil when not given.
    public var body: SMTPBodyType?
    public var smtputf8 = false
    public var clientAddress: String = ""
    public var clientName: String = ""
    public var helo: String = ""

    public init(id: String, arrival: Int64, sender: String, recipients: [Recipient]) {
        self.id = id
        self.arrival = arrival
        self.sender = sender
        self.recipients = recipients
    }

    /// The envelope of a submitted message.
    public init(id: String, arrival: Int64, submit: Mailstack_Ipc_QueueSubmit) {
        self.init(id: id, arrival: arrival, sender: submit.sender,
                  recipients: submit.recipients.map(EnvelopeRecipient.init))
        envid = submit.envid
        ret = DSNReturn(submit.ret)
        body = SMTPBodyType(submit.body)
        smtputf8 = submit.smtputf8
        clientAddress = submit.clientAddress
        clientName = submit.clientName
        helo = submit.helo
    }

    /// "name [address]" of the client, as sendmail logs it.
    public var relay: String {
        clientAddress.isEmpty ? "localhost" : "\(clientName.isEmpty ? "" : clientName + " ")[\(clientAddress)]"
    }
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
