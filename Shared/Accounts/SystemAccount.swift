#if canImport(Glibc)
import Glibc
#endif

/// A user of the system's account database (NSS: /etc/passwd and what nsswitch.conf adds),
/// copied out of getpwnam_r(3) or getpwuid_r(3). getpwnam(3) and getpwuid(3) return a pointer
/// into one static buffer that the next lookup on any thread overwrites before the caller has
/// read it: in one test process, with suites in parallel, a file meant for `postgres` was once
/// chowned to root that way.
public struct SystemUser: Sendable, Equatable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    /// The gecos field (full name, office, ...), "" when empty.
    public var gecos: String
    public var home: String

    /// The user called `name`; nil when there is none (or the database cannot be read). A name
    /// with a NUL in it names nobody (passed to C, it would name what comes before the NUL).
    public static func named(_ name: String) -> SystemUser? {
        guard !name.utf8.contains(0) else { return nil }
        return lookup { entry, buffer, size, result in getpwnam_r(name, &entry, buffer, size, &result) }
    }

    /// The user whose uid is `uid`; nil when there is none.
    public static func withID(_ uid: UInt32) -> SystemUser? {
        lookup { entry, buffer, size, result in getpwuid_r(uid_t(uid), &entry, buffer, size, &result) }
    }

    /// The user called `nameOrID`, else the one whose uid it is (a number that is not a name).
    public static func named(orID nameOrID: String) -> SystemUser? {
        named(nameOrID) ?? UInt32(nameOrID).flatMap(withID)
    }

    private static func lookup(
        _ call: (inout passwd, UnsafeMutablePointer<CChar>, Int, inout UnsafeMutablePointer<passwd>?) -> Int32
    ) -> SystemUser? {
        SystemAccountBuffer.retrying(initial: sysconf(Int32(_SC_GETPW_R_SIZE_MAX))) { buffer, size in
            var entry = passwd()
            var result: UnsafeMutablePointer<passwd>?
            let status = call(&entry, buffer, size, &result)
            guard status == 0 else { return .failed(status) }
            guard result != nil, let name = entry.pw_name else { return .found(nil) }
            return .found(SystemUser(name: String(cString: name), uid: entry.pw_uid, gid: entry.pw_gid,
                                     gecos: entry.pw_gecos.map { String(cString: $0) } ?? "",
                                     home: entry.pw_dir.map { String(cString: $0) } ?? "/"))
        }
    }
}

/// A group of the system's account database, copied out of getgrnam_r(3) (its members are not
/// kept: nothing here needs them).
public struct SystemGroup: Sendable, Equatable {
    public var name: String
    public var gid: UInt32

    /// The group called `name`; nil when there is none (or the name has a NUL in it).
    public static func named(_ name: String) -> SystemGroup? {
        guard !name.utf8.contains(0) else { return nil }
        return SystemAccountBuffer.retrying(initial: sysconf(Int32(_SC_GETGR_R_SIZE_MAX))) { buffer, size in
            var entry = group()
            var result: UnsafeMutablePointer<group>?
            let status = getgrnam_r(name, &entry, buffer, size, &result)
            guard status == 0 else { return .failed(status) }
            guard result != nil, let name = entry.gr_name else { return .found(nil) }
            return .found(SystemGroup(name: String(cString: name), gid: entry.gr_gid))
        }
    }
}

/// The buffer the *_r lookups fill: the size sysconf suggests, doubled while the entry does not
/// fit (ERANGE: a group of many members), up to 1 MiB.
enum SystemAccountBuffer {
    enum Outcome<Value> {
        case found(Value?)
        case failed(Int32)
    }

    static func retrying<Value>(initial: Int, _ body: (UnsafeMutablePointer<CChar>, Int) -> Outcome<Value>) -> Value? {
        var size = max(initial, 1024)
        while size <= 1 << 20 {
            var buffer = [CChar](repeating: 0, count: size)
            let outcome = buffer.withUnsafeMutableBufferPointer { body($0.baseAddress!, size) }
            switch outcome {
            case let .found(value): return value
            case .failed(ERANGE): size *= 2
            case .failed: return nil
            }
        }
        return nil
    }
}
