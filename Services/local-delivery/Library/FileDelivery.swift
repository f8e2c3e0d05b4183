import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SMTP

/// sendmail's file mailer, with its SafeFileEnvironment: an alias's `/path` is appended to in
/// mbox format only if the path is absolute, its real parent directory is (inside) one of
/// local.file_directories, and its last component is a regular file with one link or does not
/// exist yet (created 0600), never a symbolic link. The file is locked (F_OFD_SETLKW, at most
/// local.file_lock_timeout), the entry appended and fsynced before the 250; a write that fails
/// partway is cut back to the file's size before it, so no half message stays behind.
struct FileDelivery: Sendable {
    let directories: [String]
    let lockTimeout: Duration
    let identity: RunIdentity

    /// On a thread of its own: it may switch that thread's file credentials and it blocks on
    /// the lock.
    func deliver(path: String, entry: [UInt8]) async -> SMTPReply {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: deliverBlocking(path: path, entry: entry)) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    func deliverBlocking(path: String, entry: [UInt8]) -> SMTPReply {
        guard !directories.isEmpty else {
            return SMTPReply(550, "5.7.1", "\"\(path)\": file deliveries are off (local.file_directories is empty)")
        }
        let components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard path.hasPrefix("/"), !components.isEmpty, components.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }),
              !path.unicodeScalars.contains(where: LocalJob.isControl) else {
            return SMTPReply(550, "5.7.1", "\"\(path)\" is not an absolute path without empty, . or .. components and control characters")
        }
        switch identity {
        case let .unusable(reason): return SMTPReply(451, "4.3.0", "cannot write files: \(reason)")
        case .inherited: break
        case let .switched(user, uid, gid, _):
            if let error = LinuxProcess.useFileIdentity(uid: uid, gid: gid) {
                return SMTPReply(451, "4.3.0", "cannot write files as \(user): \(LinuxProcess.describe(error)) (files are never written as root)")
            }
        }
        let parent = components.count == 1 ? "/" : "/" + components.dropLast().joined(separator: "/")
        let directory = LinuxProcess.openDirectory(parent)
        guard directory >= 0 else { return Self.openFailure(errno, parent) }
        defer { close(directory) }
        // The directory as opened, symbolic links and all resolved: what is checked is what is used.
        let real = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(directory)")) ?? ""
        guard allows(real) else {
            return SMTPReply(550, "5.7.1", "\"\(path)\" is not in a directory of local.file_directories (\(directories.joined(separator: ", ")))")
        }
        let fd = openat(directory, String(components.last!), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == ELOOP { return SMTPReply(550, "5.7.1", "\"\(path)\" is a symbolic link: not delivered to") }
            if errno == ENXIO { return SMTPReply(550, "5.7.1", "\"\(path)\" is not a regular file: not delivered to") }
            return Self.openFailure(errno, path)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return SMTPReply(451, "4.3.0", "\"\(path)\": \(LinuxProcess.describe(errno))") }
        guard info.st_mode & S_IFMT == S_IFREG else { return SMTPReply(550, "5.7.1", "\"\(path)\" is not a regular file: not delivered to") }
        guard info.st_nlink == 1 else { return SMTPReply(550, "5.7.1", "\"\(path)\" has \(info.st_nlink) hard links: not delivered to") }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        if let error = LinuxProcess.lock(fd, timeout: lockTimeout) {
            if error == ETIMEDOUT { return SMTPReply(450, "4.2.0", "\"\(path)\": mailbox locked by another process (waited \(durationText(lockTimeout)))") }
            return SMTPReply(451, "4.3.0", "\"\(path)\": cannot lock: \(LinuxProcess.describe(error))")
        }
        guard fstat(fd, &info) == 0 else { return SMTPReply(451, "4.3.0", "\"\(path)\": \(LinuxProcess.describe(errno))") }
        let before = info.st_size
        if let error = Self.append(entry, to: fd) ?? (fsync(fd) == 0 ? nil : errno) {
            _ = ftruncate(fd, before)
            _ = fsync(fd)
            return Self.writeFailure(error, path)
        }
        return SMTPReply(250, "2.0.0", "Sent")
    }

    func allows(_ real: String) -> Bool {
        guard real.hasPrefix("/") else { return false }
        return directories.contains { configured in
            guard let resolved = realpath(configured, nil) else { return false }
            defer { free(resolved) }
            let directory = String(cString: resolved)
            return real == directory || real.hasPrefix(directory == "/" ? "/" : directory + "/")
        }
    }

    /// Writes all of `data`; nil, or the errno of the write that failed.
    static func append(_ data: [UInt8], to fd: Int32) -> Int32? {
        var written = 0
        while written < data.count {
            let result = data.withUnsafeBytes { write(fd, $0.baseAddress! + written, data.count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                return errno
            }
            written += result
        }
        return nil
    }

    /// A full disk or quota is temporary, as other trouble of the moment; a path that cannot be
    /// opened for what it is (missing directory, permission, not a directory) is sendmail's
    /// EX_CANTCREAT, permanent.
    static func openFailure(_ error: Int32, _ path: String) -> SMTPReply {
        switch error {
        case ENOSPC, EDQUOT: return SMTPReply(452, "4.3.1", "Insufficient system storage: \"\(path)\"")
        case ENOENT, ENOTDIR, EACCES, EPERM, EISDIR:
            return SMTPReply(550, "5.0.0", "Can't create output: \"\(path)\": \(LinuxProcess.describe(error))")
        case EROFS:
            return SMTPReply(451, "4.3.0", "\"\(path)\": \(LinuxProcess.describe(error)) (under systemd: ReadWritePaths= of mailstack-local-delivery.service)")
        default: return SMTPReply(451, "4.3.0", "\"\(path)\": \(LinuxProcess.describe(error))")
        }
    }

    static func writeFailure(_ error: Int32, _ path: String) -> SMTPReply {
        switch error {
        case ENOSPC, EDQUOT: return SMTPReply(452, "4.3.1", "Insufficient system storage: \"\(path)\" (nothing appended)")
        default: return SMTPReply(451, "4.3.0", "\"\(path)\": write error: \(LinuxProcess.describe(error)) (nothing appended)")
        }
    }
}
