import IPC
import SMTP

/// Where smtp-in's own session state becomes the IPC schema's messages: only here.
extension SMTPSession.Transaction {
    /// The queue's request for this transaction's message.
    func submit(queueID: String, clientAddress: String, clientName: String, helo: String) -> Mailstack_Ipc_QueueSubmit {
        .with {
            $0.sender = sender
            $0.recipients = recipients.map(\.ipc)
            $0.envid = parameters.envid
            $0.ret = parameters.ret.map { $0 == .full ? .retFull : .retHdrs } ?? .retUnspecified
            $0.body = parameters.body.map { $0 == .eightBitMIME ? .body8Bitmime : .body7Bit } ?? .bodyUnspecified
            $0.smtputf8 = parameters.smtputf8
            $0.declaredSize = parameters.size
            $0.clientAddress = clientAddress
            $0.clientName = clientName
            $0.helo = helo
            $0.queueID = queueID
        }
    }
}

extension SMTPSession.Recipient {
    var ipc: Mailstack_Ipc_Recipient {
        .with {
            $0.address = address
            $0.notify = parameters.notify?.rawValue ?? 0
            $0.orcpt = parameters.orcpt ?? ""
        }
    }
}
