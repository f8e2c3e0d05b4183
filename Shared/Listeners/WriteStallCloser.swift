import NIOCore
import Timing

/// Closes a connection whose writes have been blocked for `timeout`: the channel stayed
/// unwritable (NIO's buffer above its high-water mark, the kernel's full) because the client does
/// not read what it is sent. Read deadlines alone never end such a client: its session waits in
/// a write, not in a read, and would keep its connection slot for as long as the client likes.
public final class WriteStallCloser: ChannelInboundHandler {
    public typealias InboundIn = NIOAny
    let timeout: TimeAmount
    var timer: Scheduled<Void>?

    public init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            timer?.cancel()
            timer = nil
        } else if timer == nil {
            let channel = context.channel
            timer = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        }
        context.fireChannelWritabilityChanged()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    public func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }
}
