#if canImport(Glibc)
import Glibc
#endif
import IPC
import Logging
import NIOCore

/// Who is on the other end of a Unix socket, as the kernel says (SO_PEERCRED), not as the peer
/// claims. Services decide privileged requests from this.
public struct IPCPeer: Sendable, Equatable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
    /// The service name the peer announced in its hello (informational only).
    public var service: String

    public init(pid: Int32, uid: UInt32, gid: UInt32, service: String = "") {
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.service = service
    }

    public var description: String { "\(service.isEmpty ? "peer" : service)[pid=\(pid) uid=\(uid) gid=\(gid)]" }

    static func credentials(of channel: Channel) async throws -> IPCPeer {
        guard let provider = channel as? SocketOptionProvider else {
            throw IPCError.protocolViolation("channel has no socket options")
        }
        let cred: KernelCredentials = try await provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET),
            name: SocketOptionName(SO_PEERCRED)
        ).get()
        return IPCPeer(pid: cred.pid, uid: cred.uid, gid: cred.gid)
    }
}

/// Which peers may make privileged requests (registry edits, queue listing and flushing):
/// root, the service's own user, and configured users and groups.
public struct IPCPeerPolicy: Sendable {
    public var uids: Set<UInt32>
    public var gids: Set<UInt32>

    public init(uids: Set<UInt32> = [], gids: Set<UInt32> = []) {
        self.uids = uids
        self.gids = gids
    }

    /// Root and this process's own uid are always allowed.
    public func allows(_ peer: IPCPeer) -> Bool {
        peer.uid == 0 || peer.uid == getuid() || uids.contains(peer.uid) || gids.contains(peer.gid)
    }

    /// For a request handler: logs `<logPrefix><operation> refused: <peer> is not <role>` and
    /// answers PERMISSION_DENIED (`<operation> is allowed to <allowed> only`) unless the peer
    /// is allowed.
    public func authorize(_ peer: IPCPeer, _ operation: String, allowed: String, role: String, logPrefix: String = "",
                          logger: Logger) throws {
        guard allows(peer) else {
            logger.warning("\(logPrefix)\(operation) refused: \(peer) is not \(role)")
            throw IPCHandlerError(.permissionDenied, "\(operation) is allowed to \(allowed) only")
        }
    }
}

/// `struct ucred` of <sys/socket.h> (pid_t, uid_t, gid_t), which Swift's Glibc module does not
/// export without _GNU_SOURCE.
struct KernelCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
