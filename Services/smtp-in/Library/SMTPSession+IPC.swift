import IPC
import IPCTransport
import SMTP

/// Where smtp-in's own session state becomes the IPC schema's messages: only here.
extension SMTPSession.Transaction {
    /// The queue's request for this transaction's message.
    func submit(queueID: String, clientAddress: String, clientName: String, helo: String) -> Mailstack_Ipc_QueueSubmit {
        .with {
            $0.sender = sender
            $0.recipients = recipients.map(\.ipc)
            $0.envid = parameters.envid
            $0.ret = parameters.ret.ipc
            $0.body = parameters.body.ipc
            $0.smtputf8 = parameters.smtputf8
            $0.declaredSize = parameters.size
            $0.clientAddress = clientAddress
            $0.clientName = clientName
            $0.helo = helo
            $0.queueID = queueID
        }
    }
}
