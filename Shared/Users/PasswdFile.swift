import CCrypt
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Files

/// Users and password hashes in the passwd-file format Dovecot also reads:
///
///     user:{SCHEME}hash[:uid:gid:gecos:home:shell:extra]
///
/// Schemes: SHA512-CRYPT, BLF-CRYPT, CRYPT (any crypt(3) hash: $6$, $2b$, $y$ yescrypt), and
/// PLAIN / CLEARTEXT (the only ones APOP can use, since APOP needs the secret itself). A hash
/// with no {SCHEME} is CRYPT. Blank lines and `#` comments are skipped; a bad line is reported
/// (file:line: reason) and skipped. The file is re-read when it changes.
public final class PasswdFile: Sendable {
    public struct User: Sendable, Equatable {
        public var name: String
        public var scheme: String
        public var secret: String
        /// The plaintext secret, when the scheme keeps it (APOP).
        public var apopSecret: String? { ["PLAIN", "CLEARTEXT"].contains(scheme) ? secret : nil }
    }

    public struct LineError: Sendable, Equatable, CustomStringConvertible {
        public var file: String
        public var line: Int
        public var reason: String
        public var description: String { "\(file):\(line): \(reason)" }
    }

    public let path: String
    let checkInterval: Duration
    struct State {
        var users: [String: User] = [:]
        var errors: [LineError] = []
        var identity: (UInt64, Int, Int)?
        var lastCheck: ContinuousClock.Instant?
        var loads: Int64 = 0
    }
    let state = Mutex(State())
    private let loading = Mutex(())

    static let cryptSchemes: Set<String> = ["CRYPT", "SHA512-CRYPT", "SHA256-CRYPT", "BLF-CRYPT", "MD5-CRYPT"]
    static let knownSchemes: Set<String> = cryptSchemes.union(["PLAIN", "CLEARTEXT"])
    /// Verified against when the user does not exist, so that an unknown user costs the same
    /// time as a wrong password.
    static let decoy = "$6$rounds=5000$mailstackdecoy$4J0Vn4Kq9a8JtW9s4x7f0Fv9rC0bHq1kS8xYp2mU3bN7cD5eE6fG7hH8iI9jJ0kK1lL2mM3nN4oO5pP6qQ7rR8"

    public init(path: String, checkInterval: Duration = .seconds(1)) {
        self.path = path
        self.checkInterval = checkInterval
    }

    /// How many times the file was (re)read (see `MapSource.loads`).
    public var loads: Int64 { state.withLock { $0.loads } }

    /// Lines that were skipped at the last (re)load.
    public var errors: [LineError] { refresh(); return state.withLock { $0.errors } }

    public func user(_ name: String) -> User? {
        refresh()
        return state.withLock { $0.users[name] }
    }

    /// Checks `password` for `name`. Never says which of the two was wrong; costs a hash either way.
    public func verify(user name: String, password: String) -> Bool {
        Self.verify(user(name), password: password)
    }

    static func crypt(_ phrase: String, setting: String) -> String? {
        var out = [CChar](repeating: 0, count: Int(CRYPT_OUTPUT_SIZE))
        guard ms_crypt(phrase, setting, &out, out.count) == 0 else { return nil }
        return out.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// A new SHA512-CRYPT hash of `password`, in the file's `{SHA512-CRYPT}` form.
    public static func hash(_ password: String, prefix: String = "$6$") -> String? {
        var salt = [CChar](repeating: 0, count: Int(CRYPT_GENSALT_OUTPUT_SIZE))
        guard ms_crypt_gensalt(prefix, &salt, salt.count) == 0, let hashed = crypt(password, setting: salt.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }) else {
            return nil
        }
        return (prefix == "$6$" ? "{SHA512-CRYPT}" : "{CRYPT}") + hashed
    }

    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<a.count { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    // MARK: loading

    /// Re-reads the file when it changed (checked at most every `checkInterval`). Callers queue
    /// on `loading`, so nobody answers from a table that is still being read (the first lookups
    /// of a starting service come at once: one of them used to find no users at all).
    func refresh() {
        loading.withLock { _ in refreshLocked() }
    }

    private func refreshLocked() {
        let now = ContinuousClock.now
        let due = state.withLock { s -> Bool in
            let due = s.lastCheck.map { now - $0 >= checkInterval } ?? true
            if due { s.lastCheck = now }
            return due
        }
        guard due else { return }
        var st = stat()
        guard stat(path, &st) == 0 else {
            state.withLock { $0.users = [:]; $0.errors = [LineError(file: path, line: 0, reason: "cannot read: \(String(cString: strerror(errno)))")]; $0.loads += 1 }
            return
        }
        let identity = (UInt64(st.st_ino), st.st_mtim.tv_sec, st.st_mtim.tv_nsec)
        if let old = state.withLock({ $0.identity }), old == identity { return }
        let (users, errors): ([String: User], [LineError])
        do {
            (users, errors) = Self.parse(try BoundedFile.text(path, limit: Self.maxFileSize), file: path)
        } catch {
            (users, errors) = ([:], [LineError(file: path, line: 0, reason: "cannot read: \(error.reason)")])
        }
        state.withLock { $0.users = users; $0.errors = errors; $0.identity = identity; $0.loads += 1 }
    }

    /// A passwd-file over this is refused whole (logged, no users) rather than read without a
    /// bound: 64 MiB is some 400,000 users.
    public static let maxFileSize = 64 << 20

    public static func parse(_ text: String, file: String) -> ([String: User], [LineError]) {
        var users: [String: User] = [:]
        var errors: [LineError] = []
        // CR LF is one Character in Swift, not a "\n": both end a line.
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        for (index, raw) in lines.enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            func fail(_ reason: String) { errors.append(LineError(file: file, line: index + 1, reason: reason)) }
            guard fields.count >= 2, !fields[0].isEmpty else { fail("expected user:password[:...]"); continue }
            let name = String(fields[0])
            // The password field may itself contain ':'? Dovecot does not allow it; neither do we.
            var password = Substring(fields[1])
            var scheme = "CRYPT"
            if password.hasPrefix("{"), let close = password.firstIndex(of: "}") {
                scheme = password[password.index(after: password.startIndex)..<close].uppercased()
                password = password[password.index(after: close)...]
            }
            guard knownSchemes.contains(scheme) else { fail("unknown password scheme {\(scheme)} for \(name)"); continue }
            if cryptSchemes.contains(scheme), !password.hasPrefix("$") {
                fail("\(name): {\(scheme)} needs a crypt(3) hash ($6$..., $2b$..., $y$...)")
                continue
            }
            if users[name] != nil { fail("user \(name) appears twice; the first line wins"); continue }
            users[name] = User(name: name, scheme: scheme, secret: String(password))
        }
        return (users, errors)
    }
}
