import Foundation
import IPC
import IPCTransport
import NIOCore
import SMTP

extension QueueRouting {
    /// Routing over the stack's sockets: relay-policy resolves recipients (policy.resolve),
    /// smtpfeed-out delivers remote ones (feed.deliver, the body streamed).
    public static func ipc(policy: PolicyClient, feed: FeedClient, local: LocalDeliveryClient) -> QueueRouting {
        QueueRouting(
            resolve: { address in try await policy.resolve(address).deliveries.map(MailTarget.init) },
            deliverRemote: { job in
                let request = Mailstack_Ipc_FeedDeliver.with {
                    $0.queueID = job.envelope.id
                    $0.sender = job.envelope.sender
                    $0.recipients = job.envelope.recipients.map(\.ipc)
                    $0.routes = job.routes.map(\.ipc)
                    $0.envid = job.envelope.envid
                    $0.ret = job.envelope.ret.ipc
                    $0.body = job.envelope.body.ipc
                    $0.smtputf8 = job.envelope.smtputf8
                    $0.size = UInt64(job.body.count)
                    $0.ignoreBackoff = job.ignoreBackoff
                }
                let body = OneBuffer(buffer: ByteBuffer(bytes: job.body))
                let result = try await feed.deliver(request, body: body)
                return result.results.map(DeliveryResult.init)
            },
            deliverLocal: { job in
                let request = Mailstack_Ipc_LocalDeliver.with {
                    $0.queueID = job.queueID
                    $0.sender = job.sender
                    $0.recipient = job.recipient.address
                    $0.originalRecipient = job.recipient.orcpt.isEmpty ? job.recipient.address : String(job.recipient.orcpt.drop { $0 != ";" }.dropFirst())
                    $0.alias = job.target.alias
                    switch job.target.kind {
                    case let .program(command): $0.kind = .program; $0.target = command
                    case let .file(path): $0.kind = .file; $0.target = path
                    default: $0.kind = .unspecified
                    }
                }
                let answer = try await local.deliver(request, body: OneBuffer(buffer: ByteBuffer(bytes: job.body)))
                return DeliveryResult(SMTPReply(answer), relay: "local")
            })
    }
}

/// An async sequence of one buffer (a body already in memory, streamed in chunks by the client).
struct OneBuffer: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let buffer: ByteBuffer

    struct AsyncIterator: AsyncIteratorProtocol {
        var buffer: ByteBuffer?
        mutating func next() async -> ByteBuffer? {
            defer { buffer = nil }
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(buffer: buffer) }
}
