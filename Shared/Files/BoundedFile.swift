#if canImport(Glibc)
import Glibc
#endif

/// A whole file read into memory with a bound: an administrator's file (the passwd-file,
/// virtuser-domains, the public suffix list) is trusted in content but not in size, and a file
/// over the bound is an error that names it rather than memory taken without limit or a
/// silently shortened read.
public enum BoundedFile {
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public let path: String
        public let reason: String
        /// No such file (callers that treat a missing file as empty ask this).
        public let missing: Bool
        public var description: String { "\(path): \(reason)" }
    }

    /// The file's bytes, at most `limit` of them.
    public static func read(_ path: String, limit: Int) throws(Failure) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw Failure(path: path, reason: String(cString: strerror(code)), missing: code == ENOENT)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(path: path, reason: String(cString: strerror(errno)), missing: false)
            }
            if n == 0 { return bytes }
            guard bytes.count + n <= limit else { throw Failure(path: path, reason: "larger than \(limit) octets", missing: false) }
            bytes += buffer[0..<n]
        }
    }

    /// The file as text (invalid UTF-8 replaced), at most `limit` octets.
    public static func text(_ path: String, limit: Int) throws(Failure) -> String {
        String(decoding: try read(path, limit: limit), as: UTF8.self)
    }
}
