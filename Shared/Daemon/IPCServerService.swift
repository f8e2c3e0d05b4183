import IPCTransport
import Logging
import ServiceLifecycle

/// An IPC listener as a lifecycle service: answers until graceful shutdown, then stops
/// accepting (connections in progress finish their current request).
public struct IPCServerService<Handler: IPCRequestHandler>: Service {
    let server: IPCServer
    let handler: Handler

    public init(server: IPCServer, handler: Handler) {
        self.server = server
        self.handler = handler
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await cancelWhenGracefulShutdown {
                try await server.serve(handler)
            }
        } onGracefulShutdown: {
        }
    }
}
