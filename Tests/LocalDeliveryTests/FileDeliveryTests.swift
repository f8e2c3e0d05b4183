import Accounts
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LocalDeliveryService
import SMTP
import Testing
import TestSupport

/// Alias files: appended in mbox format, only under local.file_directories, never through a
/// symbolic link, locked, all or nothing.
@Suite("file deliveries")
struct FileDeliveryTests {
    /// A fixture with out/files as the one directory of local.file_directories (writable by
    /// anyone: as root, files are written as nobody) and out/other beside it.
    func fixture(lockTimeout: Duration = .seconds(30)) throws -> (LocalFixture, LocalDelivery, String) {
        let fixture = try LocalFixture()
        let files = fixture.out + "/files"
        mkdir(files, 0o777)
        chmod(files, 0o777)
        mkdir(fixture.out + "/other", 0o777)
        chmod(fixture.out + "/other", 0o777)
        return (fixture, fixture.delivery(fixture.settings(files: [files], lockTimeout: lockTimeout)), files)
    }

    /// `From sender Sun Nov  9 08:05:03 2026`.
    static var fromLine: Regex<(Substring, Substring)> { #/From (\S+) [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \d{4}/# }

    @Test("two messages appended in mbox format: From line, Return-Path:, >From quoting, a blank line after each")
    func twoMessages() async throws {
        let (_, delivery, files) = try fixture()
        let first = await delivery.deliver(job(.file(files + "/archive")), message: sampleMessage)
        #expect(first.code == 250 && first.enhanced == "2.0.0", "\(first)")
        let second = await delivery.deliver(job(.file(files + "/archive"), sender: ""), message: Array("Subject: two\r\n\r\nFrom here\r\nno end".utf8))
        #expect(second.code == 250, "\(second)")
        let text = try String(contentsOfFile: files + "/archive", encoding: .utf8)
        let entries = text.components(separatedBy: "\n\nFrom ")
        #expect(entries.count == 2, "\(text)")
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0].wholeMatch(of: Self.fromLine)?.1 == "a@example.test", "\(lines[0])")
        #expect(Array(lines[1...9]) == ["Return-Path: <a@example.test>", "From: a@example.test", "To: list@domain1.com", "Subject: hello", "",
                                       "first line", ">From the start", "last", ""])
        #expect(lines[10].wholeMatch(of: Self.fromLine)?.1 == "MAILER-DAEMON", "\(lines[10])")
        #expect(Array(lines[11...]) == ["Return-Path: <>", "Subject: two", "", ">From here", "no end", "", ""])
        var info = stat()
        #expect(stat(files + "/archive", &info) == 0 && info.st_mode & 0o777 == 0o600)
        if getuid() == 0 { #expect(info.st_uid == SystemUser.named("nobody")!.uid, "written as local.run_as, not root") }
    }

    @Test("paths outside local.file_directories are refused, however they get there")
    func outside() async throws {
        let (fixture, delivery, files) = try fixture()
        let other = fixture.out + "/other"
        symlink(other, files + "/elsewhere")
        for path in [other + "/mbox", files + "/../other/mbox", files + "/elsewhere/mbox", "relative/mbox", files + "/./mbox", files + "/"] {
            let reply = await delivery.deliver(job(.file(path)), message: sampleMessage)
            #expect(reply.code == 550 && reply.enhanced == "5.7.1", "\(path): \(reply)")
        }
        let reply = await delivery.deliver(job(.file(other + "/mbox")), message: sampleMessage)
        #expect(reply.text == "\"\(other)/mbox\" is not in a directory of local.file_directories (\(files))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: other).isEmpty, "nothing written")
        // No directory configured: no file delivery at all.
        let off = await fixture.delivery(fixture.settings()).deliver(job(.file(files + "/mbox")), message: sampleMessage)
        #expect(off.code == 550 && off.enhanced == "5.7.1" && off.text.contains("local.file_directories is empty"), "\(off)")
    }

    @Test("a symbolic link, a hard link, a FIFO: refused, the file they lead to untouched")
    func notPlainFiles() async throws {
        let (fixture, delivery, files) = try fixture()
        let target = fixture.out + "/other/target"
        try "kept\n".write(toFile: target, atomically: true, encoding: .utf8)
        symlink(target, files + "/link")
        let linked = await delivery.deliver(job(.file(files + "/link")), message: sampleMessage)
        #expect(linked.code == 550 && linked.enhanced == "5.7.1" && linked.text.contains("is a symbolic link"), "\(linked)")
        try "inside\n".write(toFile: files + "/hard", atomically: true, encoding: .utf8)
        chmod(files + "/hard", 0o666) // writable by whoever deliveries run as: only the link count refuses it
        link(files + "/hard", fixture.out + "/other/hard")
        let hard = await delivery.deliver(job(.file(files + "/hard")), message: sampleMessage)
        #expect(hard.code == 550 && hard.text.contains("2 hard links"), "\(hard)")
        mkfifo(files + "/fifo", 0o666)
        chmod(files + "/fifo", 0o666)
        let fifo = await delivery.deliver(job(.file(files + "/fifo")), message: sampleMessage)
        #expect(fifo.code == 550 && fifo.text.contains("not a regular file"), "\(fifo)")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "kept\n")
        #expect(try String(contentsOfFile: files + "/hard", encoding: .utf8) == "inside\n")
    }

    @Test("a mailbox locked by a reader: the delivery waits local.file_lock_timeout, then is temporary; unlocked, it goes in")
    func locked() async throws {
        let (_, delivery, files) = try fixture(lockTimeout: .seconds(1))
        let path = files + "/locked"
        let fd = open(path, O_RDWR | O_CREAT, 0o666)
        fchmod(fd, 0o666)
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        #expect(fcntl(fd, F_SETLK, &lock) == 0, "a mail reader's fcntl lock")
        let waited = await delivery.deliver(job(.file(path)), message: sampleMessage)
        #expect(waited.code == 450 && waited.enhanced == "4.2.0" && waited.text.contains("locked"), "\(waited)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).isEmpty)
        close(fd) // drops the lock
        let delivered = await delivery.deliver(job(.file(path)), message: sampleMessage)
        #expect(delivered.code == 250, "\(delivered)")
    }

    @Test("a full disk partway through: temporary, and the file cut back to what it held", .enabled(if: getuid() == 0, "mounts a tmpfs"))
    func fullDisk() async throws {
        try await TmpfsMount.with(kilobytes: 256) { mount in
            chmod(mount.path, 0o777)
            let fixture = try LocalFixture()
            let delivery = fixture.delivery(fixture.settings(files: [mount.path]))
            let path = mount.path + "/mbox"
            #expect(await delivery.deliver(job(.file(path)), message: sampleMessage).code == 250)
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            try mount.fill(leaving: 64 * 1024)
            let large = Array("Subject: big\r\n\r\n".utf8) + Array(repeating: 0x61, count: 200 * 1024) + [0x0D, 0x0A]
            let reply = await delivery.deliver(job(.file(path)), message: large)
            #expect(reply.code == 452 && reply.enhanced == "4.3.1" && reply.isTemporary, "\(reply)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before, "no half message left")
        }
    }
}

/// A small tmpfs mounted for one test (as root), always unmounted after it.
struct TmpfsMount {
    let path: String

    static func with(kilobytes: Int, _ body: (TmpfsMount) async throws -> Void) async throws {
        let path = try TestSupport.temporaryDirectory("tmpfs")
        let mounted = try await TestSupport.runAsync(["/bin/mount", "-t", "tmpfs", "-o", "size=\(kilobytes)k,mode=0755", "tmpfs", path])
        guard mounted.status == 0 else { throw POSIXError(.EPERM) }
        let mount = TmpfsMount(path: path)
        do {
            try await body(mount)
        } catch {
            await mount.unmount()
            throw error
        }
        await mount.unmount()
    }

    func unmount() async {
        if (try? await TestSupport.runAsync(["/bin/umount", path]))?.status != 0 {
            _ = try? await TestSupport.runAsync(["/bin/umount", "-l", path])
        }
    }

    /// Fills the file system with one file until about `free` octets are left.
    func fill(leaving free: Int) throws {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { throw POSIXError(.EIO) }
        let size = max(0, Int(info.f_bavail) * Int(info.f_frsize) - free)
        let fd = open(path + "/filler", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        defer { close(fd) }
        let block = [UInt8](repeating: 0x61, count: size)
        guard block.withUnsafeBytes({ write(fd, $0.baseAddress!, size) }) == size else { throw POSIXError(.ENOSPC) }
    }
}
