#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import TestSupport

/// A tmpfs mounted for one test (as root), always unmounted after it.
struct TmpfsMount {
    let path: String

    static func with<T>(megabytes: Int, _ body: (TmpfsMount) async throws -> T) async throws -> T {
        let path = try TestSupport.temporaryDirectory("tmpfs")
        let mounted = try await TestSupport.runAsync(["/bin/mount", "-t", "tmpfs", "-o", "size=\(megabytes)m,mode=0755", "tmpfs", path])
        guard mounted.status == 0 else { throw POSIXError(.EPERM) }
        let mount = TmpfsMount(path: path)
        do {
            let result = try await body(mount)
            await mount.unmount()
            return result
        } catch {
            await mount.unmount()
            throw error
        }
    }

    func unmount() async {
        if (try? await TestSupport.runAsync(["/bin/umount", path]))?.status != 0 {
            _ = try? await TestSupport.runAsync(["/bin/umount", "-l", path])
        }
    }

    /// Octets an unprivileged writer may still use.
    var available: Int {
        var s = statvfs()
        return statvfs(path, &s) == 0 ? Int(s.f_bavail) * Int(s.f_frsize) : 0
    }

    /// Fills the file system with one file until `free` octets are left (give or take a page).
    func fill(leaving free: Int) throws {
        let filler = path + "/filler"
        let current = (try? FileManager.default.attributesOfItem(atPath: filler)[.size] as? Int) ?? 0
        let size = max(0, current + available - free)
        let fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        defer { close(fd) }
        let block = [UInt8](repeating: 0x61, count: 64 * 1024)
        var written = 0
        while written < size {
            let n = block.withUnsafeBytes { write(fd, $0.baseAddress!, min(block.count, size - written)) }
            guard n > 0 else { throw POSIXError(.ENOSPC) }
            written += n
        }
    }

    func empty() { unlink(path + "/filler") }
}

/// queue.min_free and a full spool, through the real binaries: smtp-in in front of the queue,
/// whose spool is a 2 MiB tmpfs.
@Suite("queue: a full spool file system", .serialized)
struct QueueStorageTests {
    /// Sends one message with swaks from 127.0.0.1 (RELAY in the seed's access map); the
    /// transcript.
    static func send(_ stack: StackHarness, body: String, tag: String) async throws -> String {
        let file = stack.dir + "/body-\(tag)"
        try ("Subject: \(tag)\r\n\r\n" + body).write(toFile: file, atomically: true, encoding: .utf8)
        let run = try await TestSupport.runAsync(["/usr/bin/swaks", "--server", "127.0.0.1:\(stack.smtpPort)", "--ehlo", "client.test",
                                                 "--from", "friend@client.test", "--to", "you@domain1.com", "--data", "@" + file])
        return run.stdout
    }

    /// About `octets` of body in 76-character lines.
    static func body(_ octets: Int) -> String {
        String(repeating: String(repeating: "x", count: 76) + "\r\n", count: octets / 78)
    }

    @Test("under queue.min_free, and when a write fails with ENOSPC: 452 4.3.1, no partial file, nothing acknowledged lost; accepted again once space returns")
    func diskFull() async throws {
        try await TmpfsMount.with(megabytes: 2) { mount in
            let spool = mount.path + "/spool"
            let stack = try await StackHarness(services: ["relay-policy", "queue", "smtp-in"],
                                               extra: ["queue.directory=\(spool)", "queue.min_free=512K", "queue.delivery_mode=queueonly"])
            func files(_ area: String) -> [String] {
                ((try? FileManager.default.contentsOfDirectory(atPath: spool + "/" + area)) ?? []).filter { !isBlank($0) }
            }
            // Acknowledged before the disk fills; held in msg/ (queueonly) through what follows.
            let kept = try await Self.send(stack, body: "kept\r\n", tag: "kept")
            #expect(kept.contains("<-  250 2.0.0 "), "\(kept)")
            #expect(files("msg").count == 1)

            // Less free than queue.min_free: refused when the submission starts.
            try mount.fill(leaving: 256 * 1024)
            let low = try await Self.send(stack, body: "small\r\n", tag: "low")
            #expect(low.contains("<** 452 4.3.1 Insufficient system storage"), "\(low)")
            #expect(files("tmp").isEmpty && files("msg").count == 1)

            // More free than queue.min_free, less than the message: the write fails with ENOSPC.
            try mount.fill(leaving: 700 * 1024)
            let big = try await Self.send(stack, body: Self.body(1024 * 1024), tag: "big")
            #expect(big.contains("<** 452 4.3.1 Insufficient system storage"), "\(big)")
            #expect(files("tmp").isEmpty && files("msg").count == 1)
            #expect(stack.log("queue").contains("No space left on device"))

            // Space returns: accepted again; the held message and the new one are delivered.
            mount.empty()
            let again = try await Self.send(stack, body: Self.body(1024 * 1024), tag: "again")
            #expect(again.contains("<-  250 2.0.0 "), "\(again)")
            let flush = try await TestSupport.runAsync([TestSupport.binary("mailstack"), "flush", "--set", "ipc.directory=\(stack.dir)"])
            #expect(flush.status == 0, "\(flush.stderr)")
            try await TestSupport.eventually { stack.mailbox("you").count == 2 }
            let mails = stack.mailbox("you")
            #expect(mails.contains { $0.contains("Subject: kept") })
            #expect(mails.contains { $0.contains("Subject: again") && $0.count > 1_000_000 })
            _ = try await stack.stopAll()
        }
    }
}
