@testable import Accounts
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// The system's users and groups as local delivery, the daemons' peer checks and the tests look
/// them up: values copied out of the reentrant lookups, so a lookup on another thread cannot
/// change an answer already given.
@Suite("system accounts")
struct SystemAccountTests {
    @Test("root and nobody by name and by uid; unknown names are nil")
    func lookups() {
        let root = SystemUser.named("root")
        #expect(root?.uid == 0 && root?.gid == 0 && root?.home == "/root" && root?.name == "root", "\(String(describing: root))")
        #expect(SystemUser.withID(0) == root)
        #expect(SystemUser.named(orID: "0") == root, "a number that is no name is a uid")
        let nobody = SystemUser.named("nobody")
        #expect(nobody != nil && nobody?.uid != 0)
        #expect(SystemUser.withID(nobody?.uid ?? 0)?.name == "nobody")
        #expect(SystemUser.named("nosuchuser-xyz") == nil)
        #expect(SystemUser.named(orID: "nosuchuser-xyz") == nil)
        #expect(SystemGroup.named("root")?.gid == 0)
        #expect(SystemGroup.named("nosuchgroup-xyz") == nil)
        // C would read these as "root": a NUL ends a name there.
        #expect(SystemUser.named("root\0x") == nil && SystemUser.named(orID: "root\0") == nil)
        #expect(SystemGroup.named("root\0x") == nil)
    }

    @Test("answers on many threads at once stay each caller's own")
    func concurrent() async {
        let names = ["root", "nobody", "daemon", "bin", "sys"].filter { SystemUser.named($0) != nil }
        let expected = Dictionary(uniqueKeysWithValues: names.map { ($0, SystemUser.named($0)!) })
        let wrong = await withTaskGroup(of: Int.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var wrong = 0
                    for round in 0..<2_000 {
                        let name = names[(worker + round) % names.count]
                        if SystemUser.named(name) != expected[name] { wrong += 1 }
                    }
                    return wrong
                }
            }
            return await group.reduce(0, +)
        }
        #expect(wrong == 0)
    }

    @Test("an entry that does not fit (ERANGE) is asked again with twice the buffer")
    func growsOnERANGE() {
        var sizes: [Int] = []
        let value: String? = SystemAccountBuffer.retrying(initial: 100) { _, size in
            sizes.append(size)
            return size < 8192 ? .failed(ERANGE) : .found("fits")
        }
        #expect(value == "fits" && sizes == [1024, 2048, 4096, 8192])
        let failing: String? = SystemAccountBuffer.retrying(initial: 1024) { _, _ in .failed(EIO) }
        #expect(failing == nil, "other errors are no entry")
        var tries = 0
        let endless: String? = SystemAccountBuffer.retrying(initial: 1024) { _, _ in tries += 1; return .failed(ERANGE) }
        #expect(endless == nil && tries == 11, "bounded at 1 MiB")
    }
}
