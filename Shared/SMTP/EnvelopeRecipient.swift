/// One recipient of an envelope with its DSN parameters (RFC 3461 NOTIFY and ORCPT), as the
/// queue keeps it and smtpfeed-out hands it on.
public struct EnvelopeRecipient: Equatable, Hashable, Sendable {
    public var address: String
    /// Empty when the client gave no NOTIFY.
    public var notify: DSNNotify
    /// `rfc822;user@domain` as given, or empty.
    public var orcpt: String

    public init(address: String, notify: DSNNotify = [], orcpt: String = "") {
        self.address = address
        self.notify = notify
        self.orcpt = orcpt
    }

    /// Whether the client asked for (or by default gets) a notification of `kind`.
    public func wants(_ kind: DSNNotify) -> Bool { notify.wants(kind) }

    /// The domain part, lowercased; empty for an address without `@`.
    public var domain: String {
        guard let at = address.lastIndex(of: "@") else { return "" }
        return address[address.index(after: at)...].lowercased()
    }
}
