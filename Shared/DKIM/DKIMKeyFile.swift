#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Key files on disk: read only when no one but the owner can read them (as sshd refuses a
/// private key readable by others), and written new, never over an existing file.
public enum DKIMKeyFile {
    public struct Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// The largest key file read (a 4096-bit RSA key in PEM is about 3.3 KB).
    static let maxSize = 64 * 1024

    /// Loads a private key from `path`, refusing one that its group or others may read or write.
    public static func load(_ path: String) throws(Error) -> DKIMPrivateKey {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw Error(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Error(path: path, reason: String(cString: strerror(errno))) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw Error(path: path, reason: "not a regular file") }
        guard info.st_mode & 0o077 == 0 else {
            throw Error(path: path, reason: "permissions \(String(info.st_mode & 0o777, radix: 8)) are too open: the key must be readable by its owner only (chmod 600)")
        }
        guard info.st_size <= maxSize else { throw Error(path: path, reason: "larger than \(maxSize) octets: not a key") }
        var data = [UInt8](repeating: 0, count: Int(info.st_size))
        let count = data.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count == data.count else { throw Error(path: path, reason: "short read") }
        do {
            return try DKIMPrivateKey(fileText: String(decoding: data, as: UTF8.self))
        } catch {
            throw Error(path: path, reason: error.description)
        }
    }

    /// Writes `key` to a new file `path`, mode 0600 (O_EXCL: an existing file is never replaced).
    public static func write(_ key: DKIMPrivateKey, to path: String) throws(Error) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw Error(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        let bytes = Array(key.pemRepresentation.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            unlink(path)
            throw Error(path: path, reason: "write failed: \(String(cString: strerror(errno)))")
        }
    }
}
