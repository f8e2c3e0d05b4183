import Foundation
import IPC
import IPCTransport
import NIOCore

extension QueueRouting {
    /// Routing over the stack's sockets: relay-policy resolves recipients (policy.resolve),
    /// smtpfeed-out delivers remote ones (feed.deliver, the body streamed).
    public static func ipc(policy: PolicyClient, feed: FeedClient) -> QueueRouting {
        QueueRouting(
            resolve: { address in
                let answer = try await policy.resolve(address)
                switch answer.kind {
                case .local: return .local(mailbox: answer.mailbox)
                case .remote: return .remote(address: answer.address)
                default:
                    return .failed(RecipientResult(code: Int(answer.error.code), enhanced: answer.error.enhanced, text: answer.error.text))
                }
            },
            deliverRemote: { job in
                let request = Mailstack_Ipc_FeedDeliver.with {
                    $0.queueID = job.envelope.id
                    $0.sender = job.envelope.sender
                    $0.recipients = job.envelope.recipients.map { r in
                        .with { $0.address = r.address; $0.notify = r.notify; $0.orcpt = r.orcpt }
                    }
                    $0.envid = job.envelope.envid
                    $0.ret = job.envelope.ret == "FULL" ? .retFull : job.envelope.ret == "HDRS" ? .retHdrs : .retUnspecified
                    $0.body = job.envelope.body == "8BITMIME" ? .body8Bitmime : job.envelope.body == "7BIT" ? .body7Bit : .bodyUnspecified
                    $0.smtputf8 = job.envelope.smtputf8
                    $0.size = UInt64(job.body.count)
                    $0.ignoreBackoff = job.ignoreBackoff
                }
                let body = OneBuffer(buffer: ByteBuffer(bytes: job.body))
                let result = try await feed.deliver(request, body: body)
                return result.results.map {
                    RecipientResult(code: Int($0.code), enhanced: $0.enhanced, text: $0.text, relay: $0.relay, dsnPassedOn: $0.dsnPassedOn)
                }
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
