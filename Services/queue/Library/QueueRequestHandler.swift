import IPC
import IPCTransport
import Logging

/// The queue's IPC requests: submit (smtp-in, with the message streamed) and, for
/// administrators only (the seed's restrictmailq and restrictqrun, decided from the peer's
/// kernel credentials), list and flush.
public struct QueueRequestHandler: IPCRequestHandler {
    let queue: MailQueue
    let administrators: IPCPeerPolicy
    let logger: Logger

    public init(queue: MailQueue, administrators: IPCPeerPolicy, logger: Logger) {
        self.queue = queue
        self.administrators = administrators
        self.logger = logger
    }

    public func handle(_ request: IPCRequest, stream: IPCBodyStream?) async throws -> IPCBody {
        switch request.body {
        case let .queueSubmit(submit):
            guard let stream else { throw IPCHandlerError(.badRequest, "queue.submit needs the message as a stream") }
            let (id, size) = try await queue.accept(submit, body: stream)
            return .queueAccepted(.with { $0.queueID = id; $0.size = UInt64(size) })
        case .queueList:
            try authorize(request.peer, "mailq")
            let entries = await queue.list()
            return .queueListing(.with { $0.entries = entries })
        case let .queueFlush(flush):
            try authorize(request.peer, "flush")
            let count = try await queue.flush(flush.queueID.isEmpty ? nil : flush.queueID)
            logger.notice("flush \(flush.queueID.isEmpty ? "of the whole queue" : flush.queueID): \(count) message(s) scheduled",
                          metadata: ["ipc.peer": "\(request.peer)"])
            return .queueFlushed(.with { $0.count = UInt32(count) })
        default:
            throw IPCHandlerError(.unknownType, "queue does not answer this request")
        }
    }

    func authorize(_ peer: IPCPeer, _ operation: String) throws {
        try administrators.authorize(peer, operation, allowed: "administrators", role: "an administrator", logger: logger)
    }
}
