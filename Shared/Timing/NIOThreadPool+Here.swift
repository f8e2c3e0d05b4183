import NIOCore
import NIOPosix

extension NIOThreadPool {
    /// `runIfActive` that resumes the caller on the event loop it runs on (when it runs on one).
    /// With NIO as the global executor a task resumes where it is woken: the plain async form
    /// wakes it from the pool thread on whichever loop comes next, so the reply that follows a
    /// disk write or a password check would wake a second thread to reach its connection.
    public func runIfActiveHere<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        guard let loop = MultiThreadedEventLoopGroup.currentEventLoop else { return try await runIfActive(body) }
        return try await runIfActive(eventLoop: loop, body).get()
    }
}
