import Foundation

/// The SASL mechanisms smtp-in (submission AUTH, RFC 4954) and pop3 (AUTH, RFC 5034) offer,
/// decoded in one place so both services read the same exchange the same way.
public enum SASL {
    /// PLAIN (RFC 4616 section 2):
    ///
    ///     message = [authzid] UTF8NUL authcid UTF8NUL passwd
    ///
    /// Proxy authorization is not offered: the authorization identity must be empty or the
    /// authentication identity itself. Nil for bad base64, a wrong shape, an empty user name,
    /// or a user name with control characters (it would reach the logs).
    public static func plain(_ response: String) -> (user: String, password: String)? {
        guard let decoded = Data(base64Encoded: response) else { return nil }
        let parts = decoded.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard parts.count == 3, parts[0].isEmpty || parts[0] == parts[1], isUserName(parts[1]) else { return nil }
        return (parts[1], parts[2])
    }

    /// One base64 line of LOGIN (draft-murchison-sasl-login: the user name, then the password)
    /// as text; nil for bad base64.
    public static func text(_ response: String) -> String? {
        Data(base64Encoded: response).map { String(decoding: $0, as: UTF8.self) }
    }

    /// A user name that can be looked up and logged: not empty, no control characters.
    public static func isUserName(_ name: String) -> Bool {
        !name.isEmpty && !name.utf8.contains { $0 < 0x20 || $0 == 0x7F }
    }
}
