import IPCTransport
import ServiceLifecycle

/// Keeps an IPC client connected (with its reconnect backoff) until shutdown.
public struct IPCClientService: Service {
    let client: IPCClient
    public init(client: IPCClient) { self.client = client }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await client.run() }
    }
}
