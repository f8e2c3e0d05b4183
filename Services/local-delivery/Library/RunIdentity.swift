import Accounts
#if canImport(Glibc)
import Glibc
#endif

/// Who programs and file deliveries run as: never root. A local-delivery that is not root (under
/// systemd: mailstack-local) runs them as itself; one started as root (the local run without
/// systemd) switches to local.run_as for each, in the program's child before exec and in the
/// file delivery's own thread, or refuses the delivery as temporary when it cannot.
public enum RunIdentity: Sendable, Equatable, CustomStringConvertible {
    /// This process's own user, which is not root.
    case inherited(uid: UInt32, gid: UInt32, home: String)
    /// This process is root: each delivery switches to this user.
    case switched(user: String, uid: UInt32, gid: UInt32, home: String)
    /// This process is root and local.run_as cannot be used: every delivery is refused (4xx).
    case unusable(reason: String)

    /// The identity for a process whose effective uid is `euid`, with local.run_as `runAs` (a
    /// name or a uid).
    public static func resolve(runAs: String, euid: UInt32 = geteuid()) -> RunIdentity {
        if euid != 0 {
            return .inherited(uid: euid, gid: getegid(), home: SystemUser.withID(euid)?.home ?? "/")
        }
        var uid: UInt32, gid: UInt32, home = "/"
        if let user = SystemUser.named(orID: runAs) {
            (uid, gid, home) = (user.uid, user.gid, user.home)
        } else if let number = UInt32(runAs) {
            (uid, gid) = (number, number)
        } else {
            return .unusable(reason: "local.run_as: no such user \(runAs)")
        }
        guard uid != 0 && gid != 0 else { return .unusable(reason: "local.run_as: \(runAs) is root; programs and files never run as root") }
        return .switched(user: runAs, uid: uid, gid: gid, home: home)
    }

    /// The home directory of the user deliveries run as ("/" when unusable).
    public var home: String {
        switch self {
        case let .inherited(_, _, home), let .switched(_, _, _, home): return home
        case .unusable: return "/"
        }
    }

    public var description: String {
        switch self {
        case let .inherited(uid, gid, _): return "its own user (uid \(uid), gid \(gid))"
        case let .switched(user, uid, gid, _): return "\(user) (uid \(uid), gid \(gid))"
        case let .unusable(reason): return "nobody: \(reason)"
        }
    }
}
