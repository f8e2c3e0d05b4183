/// The mbox variants Debian's tools write (https://www.loc.gov/preservation/digital/formats/fdd/fdd000383.shtml,
/// and qmail's mbox(5)): all separate messages with a `From ` line after an empty line; they
/// differ in how a body line that starts with `From ` was protected.
///
/// * `mboxo`: a body line `From ...` was written as `>From ...`; a line that already read
///   `>From ...` was left alone, so unquoting is ambiguous for it (the format's known loss).
///   sendmail's mail.local, procmail, Postfix's local(8) and mutt write this.
/// * `mboxrd`: every `>*From ` line got one more `>`; unquoting removes one. Reversible.
///   GNU mailutils writes this.
/// * `mboxcl`: mboxo quoting plus a `Content-Length:` header giving the body's octets.
/// * `mboxcl2`: `Content-Length:` and no quoting at all (Solaris mail, some IMAP servers).
///
/// In the two `cl` variants a Content-Length that lands exactly on the next `From ` line (or the
/// end of the file) decides where the message ends; one that does not is ignored and the `From `
/// lines decide, as mutt and qpopper do.
public enum MboxFormat: String, CaseIterable, Sendable {
    case mboxo, mboxrd, mboxcl, mboxcl2

    var usesContentLength: Bool { self == .mboxcl || self == .mboxcl2 }

    /// How many `>` precede `From ` on a quoted line that loses one `>`: nil for no quoting.
    enum Quoting { case fromOnly, anyDepth, none }

    var quoting: Quoting {
        switch self {
        case .mboxo, .mboxcl: .fromOnly
        case .mboxrd: .anyDepth
        case .mboxcl2: .none
        }
    }
}
