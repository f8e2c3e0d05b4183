import CSystemd
#if canImport(Glibc)
import Glibc
#endif

/// Sockets passed by systemd (LISTEN_FDS, LISTEN_FDNAMES; sd_listen_fds_with_names(3)).
public enum SocketActivation {
    public struct Socket: Sendable, Equatable {
        public var fd: CInt
        /// FileDescriptorName= of the .socket unit ("unknown" when not set).
        public var name: String
    }

    /// The sockets passed to this process, taken once: the environment variables are unset so
    /// children do not inherit them, and the descriptors are marked close-on-exec.
    public static func take() -> [Socket] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = sd_listen_fds_with_names(1, &names)
        guard count > 0 else { return [] }
        var sockets: [Socket] = []
        for index in 0..<Int(count) {
            let fd = SD_LISTEN_FDS_START + CInt(index)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            let name = names?[index].map { String(cString: $0) } ?? "unknown"
            sockets.append(Socket(fd: fd, name: name))
        }
        if let names {
            for index in 0..<Int(count) { free(names[index]) }
            free(names)
        }
        return sockets
    }
}
