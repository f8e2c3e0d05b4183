#if canImport(Glibc)
import Glibc
#endif

/// Reads a whole file with a bound on its size, refusing anything but a regular file (a FIFO
/// or a device named by an :include: must not block or stream forever).
enum BoundedFile {
    static func read(_ path: String, limit: Int) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { throw AliasesError.unreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw AliasesError.unreadable(path: path, reason: String(cString: strerror(errno))) }
        guard st.st_mode & 0o170000 == 0o100000 else { throw AliasesError.unreadable(path: path, reason: "not a regular file") }
        guard st.st_size <= limit else { throw AliasesError.tooLarge(path: path, size: Int(st.st_size), limit: limit) }
        var out: [UInt8] = []
        out.reserveCapacity(Int(st.st_size))
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { throw AliasesError.unreadable(path: path, reason: String(cString: strerror(errno))) }
            if n == 0 { return out }
            out += buffer[..<n]
            // The file grew while it was read.
            guard out.count <= limit else { throw AliasesError.tooLarge(path: path, size: out.count, limit: limit) }
        }
    }

    /// The permission bits of `path`, or nil.
    static func permissions(_ path: String) -> Int32? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int32(st.st_mode & 0o7777)
    }
}
