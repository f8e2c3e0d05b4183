import IPC
import IPCTransport
import Logging
import SMTP

/// local-delivery's one request, local.deliver, the message streamed after it. Who may send it
/// is decided before it gets here (the server's request policy: the queue's user, root,
/// ipc.admin_group); a request that makes no sense is a bad request, never a mail reply.
public struct LocalRequestHandler: IPCRequestHandler {
    let delivery: LocalDelivery

    public init(delivery: LocalDelivery) { self.delivery = delivery }

    public func handle(_ request: IPCRequest, stream: IPCBodyStream?) async throws -> IPCBody {
        guard case let .localDeliver(message) = request.body else {
            throw IPCHandlerError(.unknownType, "local-delivery does not answer this request")
        }
        guard let stream else { throw IPCHandlerError(.badRequest, "local.deliver needs the message streamed after it") }
        let job = try Self.job(message)
        let body = try await stream.collect(upTo: delivery.settings.maxMessageSize)
        let reply = await delivery.deliver(job, message: Array(body.readableBytesView))
        return .localResult(reply.localResult)
    }

    static func job(_ message: Mailstack_Ipc_LocalDeliver) throws -> LocalJob {
        let target: LocalJob.Target
        switch message.kind {
        case .program: target = .program(message.target)
        case .file: target = .file(message.target)
        default: throw IPCHandlerError(.badRequest, "local.deliver: kind must be PROGRAM or FILE")
        }
        let job = LocalJob(queueID: message.queueID, sender: message.sender, recipient: message.recipient,
                           originalRecipient: message.originalRecipient, alias: message.alias, target: target, home: message.home)
        if let problem = job.problem { throw IPCHandlerError(.badRequest, "local.deliver: \(problem)") }
        return job
    }
}
