import IPC
import IPCTransport
import Logging

/// The requests of submit.sock, the queue's socket for every local user: queue.submitLocal
/// only (the listener refuses any other type before it gets here; this says no again).
public struct LocalSubmissionRequestHandler: IPCRequestHandler {
    let submission: LocalSubmission

    public init(submission: LocalSubmission) {
        self.submission = submission
    }

    public func handle(_ request: IPCRequest, stream: IPCBodyStream?) async throws -> IPCBody {
        guard case let .queueSubmitLocal(submit) = request.body else {
            throw IPCHandlerError(.permissionDenied, "this socket answers queue.submitLocal only")
        }
        guard let stream else { throw IPCHandlerError(.badRequest, "queue.submitLocal needs the message as a stream") }
        let (id, size) = try await submission.submit(submit, peer: request.peer, body: stream)
        return .queueAccepted(.with { $0.queueID = id; $0.size = UInt64(size) })
    }
}
