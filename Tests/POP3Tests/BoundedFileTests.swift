import Files
import Foundation
import TestSupport
import Testing
import Users

/// Administrators' files are read whole, with a bound (Shared/Files).
@Suite("bounded file reads")
struct BoundedFileTests {
    @Test("a file up to the bound is read whole; one octet over is refused, naming the file; a missing one says so")
    func bound() throws {
        let dir = try TestSupport.temporaryDirectory("bounded")
        let path = dir + "/file"
        let bytes = [UInt8]((0..<100_000).map { UInt8(truncatingIfNeeded: $0) })
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        #expect(try BoundedFile.read(path, limit: 100_000) == bytes)
        do {
            _ = try BoundedFile.read(path, limit: 99_999)
            Issue.record("a file over the bound was read")
        } catch {
            #expect(!error.missing && error.description == "\(path): larger than 99999 octets")
        }
        do {
            _ = try BoundedFile.read(dir + "/none", limit: 10)
            Issue.record("a missing file was read")
        } catch {
            #expect(error.missing && error.description == "\(dir)/none: No such file or directory")
        }
    }

    @Test("a passwd-file over its bound is refused whole (no users, one error naming it), never read in part")
    func passwd() throws {
        let dir = try TestSupport.temporaryDirectory("bounded")
        let path = dir + "/passwd"
        try "you:{PLAIN}secret\n".write(toFile: path, atomically: true, encoding: .utf8)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: UInt64(PasswdFile.maxFileSize + 1)) // sparse: no 64 MiB written
        try handle.close()
        let file = PasswdFile(path: path, checkInterval: .zero)
        #expect(file.user("you") == nil)
        #expect(file.errors.map(\.description) == ["\(path):0: cannot read: larger than \(PasswdFile.maxFileSize) octets"])
    }
}
