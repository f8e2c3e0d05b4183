import ServiceLifecycle

/// The queue's delivery loop as a service of the daemon's group.
public struct QueueRunner: Service {
    let queue: MailQueue
    public init(queue: MailQueue) { self.queue = queue }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await queue.run() }
    }
}
