import IPC
import IPCTransport
import Logging
import MailstackPostgres

/// drac-registry's requests. Lookups are open to anyone allowed on the socket (its mode and
/// group decide who that is); add, delete and flush only to writers: root, the service's own
/// user, and the configured users and groups (pop3's user), decided from the kernel's peer
/// credentials, never from what the peer says it is.
public struct DracRequestHandler: IPCRequestHandler {
    let registry: any DracBackend
    let writers: IPCPeerPolicy
    let logger: Logger

    public init(registry: any DracBackend, writers: IPCPeerPolicy, logger: Logger) {
        self.registry = registry
        self.writers = writers
        self.logger = logger
    }

    public func handle(_ request: IPCRequest, stream: IPCBodyStream?) async throws -> IPCBody {
        do {
            return try await answer(request)
        } catch let error as DatabaseUnavailable {
            // The shared table cannot answer: "cannot say", never "not authorized".
            logger.warning("drac: \(error)")
            throw IPCHandlerError(.unavailable, "drac-registry: \(error)")
        }
    }

    func answer(_ request: IPCRequest) async throws -> IPCBody {
        switch request.body {
        case let .dracLookup(lookup):
            let address = try parse(lookup.address)
            var reply = Mailstack_Ipc_DracLookupReply()
            reply.address = address.text
            if let expires = try await registry.lookup(address) {
                reply.authorized = true
                reply.expires = expires
            }
            return .dracLookupReply(reply)
        case let .dracAdd(add):
            try authorize(request.peer, "add")
            let address = try parse(add.address)
            let expires = try await registry.add(address)
            logger.info("drac add \(address) until \(expires)", metadata: ["ipc.peer": "\(request.peer)"])
            return .dracEntry(.with { $0.address = address.text; $0.expires = expires })
        case let .dracDelete(delete):
            try authorize(request.peer, "delete")
            let address = try parse(delete.address)
            let removed = try await registry.delete(address)
            logger.info("drac delete \(address)\(removed ? "" : " (not present)")", metadata: ["ipc.peer": "\(request.peer)"])
            return .dracCount(.with { $0.count = removed ? 1 : 0 })
        case .dracFlush:
            try authorize(request.peer, "flush")
            let removed = try await registry.flush()
            logger.notice("drac flush: \(removed) entries removed", metadata: ["ipc.peer": "\(request.peer)"])
            return .dracCount(.with { $0.count = UInt32(removed) })
        case .dracList:
            let entries = try await registry.list()
            return .dracEntries(.with {
                $0.entries = entries.map { entry in .with { $0.address = entry.address; $0.expires = entry.expires } }
            })
        default:
            throw IPCHandlerError(.unknownType, "drac-registry does not answer this request")
        }
    }

    func parse(_ text: String) throws -> DracAddress {
        guard let address = DracAddress(text) else {
            throw IPCHandlerError(.badRequest, "not an IPv4 or IPv6 address: \(text.prefix(64))")
        }
        return address
    }

    func authorize(_ peer: IPCPeer, _ operation: String) throws {
        try writers.authorize(peer, operation, allowed: "pop3 and administrators", role: "an allowed writer", logPrefix: "drac ",
                              logger: logger)
    }
}
