/// Where logins find users and their password hashes: the passwd-file (`PasswdFile`) or a
/// table every host shares (`PostgresUsers`). `user` answers nil for a user that does not
/// exist and throws when the directory cannot answer now (the login is then refused as
/// temporary, never as a wrong password).
public protocol UserDirectory: Sendable {
    func user(_ name: String) async throws -> PasswdFile.User?
}

extension PasswdFile: UserDirectory {}

extension PasswdFile.LineError: Error {}

extension PasswdFile {
    /// Checks `password` against `user` (nil: unknown). Never says which of the two was wrong;
    /// costs a hash either way.
    public static func verify(_ user: User?, password: String) -> Bool {
        guard let user else {
            _ = crypt(password, setting: decoy)
            return false
        }
        if user.apopSecret != nil { return constantTimeEqual(Array(user.secret.utf8), Array(password.utf8)) }
        guard let hashed = crypt(password, setting: user.secret) else { return false }
        return constantTimeEqual(Array(hashed.utf8), Array(user.secret.utf8))
    }

    /// One user from a table row: `password` in the file's `{SCHEME}hash` form. A row the file
    /// would refuse is the error's reason.
    public static func user(name: String, password: String, source: String) -> Result<User, LineError> {
        guard !name.contains(":"), !password.contains(":"), !password.contains("\n"), !password.contains("\r") else {
            return .failure(LineError(file: source, line: 0, reason: "a name or password with ':' or a line break"))
        }
        let (users, errors) = parse(name + ":" + password, file: source)
        if let user = users[name] { return .success(user) }
        return .failure(errors.first ?? LineError(file: source, line: 0, reason: "unreadable row"))
    }
}
