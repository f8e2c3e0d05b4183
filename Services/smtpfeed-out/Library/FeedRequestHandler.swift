import DNS
import IPC
import IPCTransport
import Logging
import SMTP

/// smtpfeed-out's IPC requests: feed.deliver from the queue, the message streamed after it; the
/// answer is a result per recipient. The queue sends many at once; each is delivered as it comes.
public struct FeedRequestHandler: IPCRequestHandler {
    let feed: Feed
    let logger: Logger

    public init(settings: Feed.Settings, resolver: DNSResolver, logger: Logger) {
        feed = Feed(settings: settings, resolver: resolver, logger: logger)
        self.logger = logger
    }

    public func handle(_ request: IPCRequest, stream: IPCBodyStream?) async throws -> IPCBody {
        guard case let .feedDeliver(job) = request.body else {
            throw IPCHandlerError(.unknownType, "smtpfeed-out does not answer this request")
        }
        guard let stream, !job.recipients.isEmpty else { throw IPCHandlerError(.badRequest, "feed.deliver needs recipients and the message") }
        // Read one octet over the limit at most, so an oversized message is answered per recipient.
        let body = try await stream.collect(upTo: feed.settings.maxMessageSize + 1 + 64 * 1024)
        var message = Feed.Message(id: job.queueID, sender: job.sender,
                                   recipients: job.recipients.map(EnvelopeRecipient.init),
                                   body: body)
        message.routes = job.recipients.indices.map { $0 < job.routes.count ? MailRoute(job.routes[$0]) : .mx }
        message.envid = job.envid
        message.ret = DSNReturn(job.ret)
        message.eightBit = SMTPBodyType(job.body) == .eightBitMIME
        message.smtputf8 = job.smtputf8
        message.ignoreBackoff = job.ignoreBackoff
        let results = await feed.deliver(message)
        return .feedResult(.with {
            $0.results = zip(job.recipients, results).map { recipient, result in result.ipc(address: recipient.address) }
        })
    }
}
