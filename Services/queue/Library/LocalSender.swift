import Accounts
#if canImport(Glibc)
import Glibc
#endif
import SMTP

/// A local user as the passwd database (getpwuid) knows them: the queue asks about the uid the
/// kernel gave for the submitting peer.
public struct LocalUser: Sendable, Equatable {
    public var uid: UInt32
    public var name: String
    /// The full name of the gecos field: up to the first comma, `&` as the login name
    /// capitalized (sendmail's buildfname).
    public var fullName: String

    public init(uid: UInt32, name: String, fullName: String = "") {
        self.uid = uid
        self.name = name
        self.fullName = fullName
    }

    /// The passwd entry of `uid`; nil when there is none.
    public static func lookup(_ uid: UInt32) -> LocalUser? {
        guard let user = SystemUser.withID(uid) else { return nil }
        return LocalUser(uid: uid, name: user.name, fullName: gecosName(user.gecos, login: user.name))
    }

    /// The full name in a gecos field.
    public static func gecosName(_ gecos: String, login: String) -> String {
        let first = gecos.prefix { $0 != "," }
        return first.replacingOccurrences(of: "&", with: login.prefix(1).uppercased() + login.dropFirst())
    }
}

/// Who the queue says a local submission is from: the envelope sender, the From: it adds when
/// the message has none, and sendmail's X-Authentication-Warning: when a user who is not
/// trusted (class t: root, the queue's own user, submit.trusted_users) set a sender other than
/// their own, with -f/-r (`nobody set sender to root@example.com using -f`) or with MAIL FROM in
/// an SMTP session on stdin (`nobody owned process doing -bs`). An untrusted user's sender is
/// used all the same, as sendmail does; the warning tells the reader. A pure decision.
public struct LocalSender: Sendable, Equatable {
    /// Without <>; empty for the null sender.
    public var envelope: String
    /// The address of an added From:.
    public var fromAddress: String
    /// The display name of an added From: (-F, else the gecos name for the user's own address).
    public var fullName: String
    /// The text of X-Authentication-Warning: after `host: `; nil for none.
    public var warning: String?

    public init(envelope: String, fromAddress: String, fullName: String, warning: String?) {
        self.envelope = envelope
        self.fromAddress = fromAddress
        self.fullName = fullName
        self.warning = warning
    }

    /// `requested` is the sender asked for (nil: none, "" the null sender); `ownDomain` the
    /// domain of the user's own address (masquerade.as, else host.fqdn); `localNames` the host's
    /// names, for which `user@name` is the user's own address too.
    public static func decide(user: LocalUser, trusted: Bool, requested: String?, smtpSession: Bool, fullName: String,
                              ownDomain: String, localNames: Set<String>, authWarnings: Bool) -> LocalSender {
        let own = user.name + "@" + ownDomain
        guard let requested else {
            return LocalSender(envelope: own, fromAddress: own, fullName: fullName.isEmpty ? user.fullName : fullName, warning: nil)
        }
        let envelope = requested.isEmpty || LocalAddress.hasDomain(requested) ? requested : requested + "@" + ownDomain
        let isOwn = LocalAddress.isOwn(requested, user: user.name, names: localNames.union([ownDomain.lowercased(), "localhost"]))
        var warning: String?
        if authWarnings && !trusted && !isOwn {
            warning = smtpSession ? "\(user.name) owned process doing -bs"
                : "\(user.name) set sender to \(requested.isEmpty ? "<>" : requested) using -f"
        }
        return LocalSender(envelope: envelope, fromAddress: envelope.isEmpty ? own : envelope,
                           fullName: !fullName.isEmpty ? fullName : isOwn ? user.fullName : "", warning: warning)
    }
}

/// The fields the queue writes into a local submission's header: sendmail's trace field
/// (`Received: (from nobody@localhost) by host id ID; date`, or `from HELO (nobody@localhost)`
/// for -bs), its warning, and the From: a message without one gets. Never the software's name.
public enum LocalHeader {
    public static func received(user: String, helo: String?, hostname: String, id: String, recipients: [String], date: String) -> String {
        let from = helo.map { "from \($0.isEmpty ? "localhost" : $0) (\(user)@localhost)" } ?? "(from \(user)@localhost)"
        var field = "Received: \(from)\r\n\tby \(hostname) id \(id)"
        if recipients.count == 1 { field += "\r\n\tfor <\(recipients[0])>" }
        return field + "; \(date)\r\n"
    }

    public static func warning(hostname: String, _ text: String) -> String {
        "X-Authentication-Warning: \(hostname): \(text)\r\n"
    }

    /// `From: Full Name <address>`, or `From: address` without a name. The name is a quoted
    /// string when it holds anything but atoms and blanks, an RFC 2047 encoded word when it is
    /// not ASCII.
    public static func from(address: String, fullName: String) -> String {
        guard !fullName.isEmpty else { return "From: \(address)\r\n" }
        return "From: \(displayName(fullName)) <\(address)>\r\n"
    }

    static func displayName(_ name: String) -> String {
        if !name.unicodeScalars.allSatisfy(\.isASCII) {
            return "=?UTF-8?B?" + base64(Array(name.utf8)) + "?="
        }
        let atext = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~ ".utf8)
        if name.utf8.allSatisfy({ atext.contains($0) }) && name.first != " " && name.last != " " { return name }
        return "\"" + name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    static func base64(_ bytes: [UInt8]) -> String {
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            let value = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (16 - 8 * UInt32($1.offset)) }
            for position in 0..<4 {
                out.append(position <= chunk.count ? table[Int(value >> (18 - 6 * UInt32(position)) & 0x3F)] : UInt8(ascii: "="))
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
