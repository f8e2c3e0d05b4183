/// The addresses of an RFC 5322 address list: a To:, Cc: or Bcc: value (unfolded or not), or a
/// recipient argument of the command line (`a@b, Name <c@d>`). What is kept of each address is
/// its addr-spec: the text inside `<>` when there is one (a source route `@a,@b:` before it
/// dropped), else the address's own text; display names, comments and group names are
/// dropped, quoted strings kept as written. Blanks and control characters outside quoted
/// strings are dropped (they only fold or separate), so no address holds one there, nor any
/// of `<>,;:()` outside quoted strings and domain literals (`[IPv6:::1]`, whose commas,
/// semicolons and parentheses would be in an address no reader takes anyway). A pure function of its octets, like sendmail's
/// crackaddr: it finds what a reader would, and the queue checks each address again.
///
///     address-list = address *("," address)
///     address      = mailbox / group
///     mailbox      = name-addr / addr-spec
///     name-addr    = [display-name] angle-addr
///     angle-addr   = [CFWS] "<" [obs-route] addr-spec ">" [CFWS]
///     group        = display-name ":" [group-list] ";" [CFWS]
public enum AddressList {
    /// The most addresses taken from one list (smtp.max_recipients' ceiling).
    public static let maxAddresses = 1000

    public static func addresses(_ text: some Collection<UInt8>) -> [String] {
        var scanner = Scanner()
        for byte in text {
            scanner.feed(byte)
            if scanner.found.count >= maxAddresses { break }
        }
        scanner.endAddress()
        return Array(scanner.found.prefix(maxAddresses))
    }

    public static func addresses(_ text: String) -> [String] { addresses(Array(text.utf8)) }

    struct Scanner {
        var found: [String] = []
        /// The address text outside <> (dropped when a <> follows: it was a display name).
        var plain: [UInt8] = []
        /// Inside <>: its text so far; after the >, what the address is.
        var angle: [UInt8]?
        var inAngle = false
        var quoted = false
        var escaped = false
        var commentDepth = 0
        /// Inside a domain literal `[...]` (its colons belong to it: `[IPv6:::1]`).
        var literal = false

        mutating func feed(_ byte: UInt8) {
            if commentDepth > 0 {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "(") {
                    commentDepth += 1
                } else if byte == UInt8(ascii: ")") {
                    commentDepth -= 1
                }
                return
            }
            if quoted {
                guard byte >= 0x20 && byte != 0x7F else { return } // folding inside a quoted string
                append(byte)
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") {
                    quoted = false
                }
                return
            }
            if literal {
                guard byte > 0x20 && byte != 0x7F && byte != UInt8(ascii: "<") && byte != UInt8(ascii: ">") else { return }
                append(byte)
                if byte == UInt8(ascii: "]") { literal = false }
                return
            }
            switch byte {
            case UInt8(ascii: "\""):
                quoted = true
                append(byte)
            case UInt8(ascii: "["):
                literal = true
                append(byte)
            case UInt8(ascii: "("):
                commentDepth = 1
            case UInt8(ascii: ")"):
                break // closes no comment: stray, no part of an address
            case UInt8(ascii: "<"):
                if !inAngle {
                    inAngle = true
                    angle = []
                }
            case UInt8(ascii: ">"):
                inAngle = false
            case UInt8(ascii: ",") where !inAngle, UInt8(ascii: ";") where !inAngle:
                endAddress()
            case UInt8(ascii: ":") where !inAngle:
                // A group's display name ends here; its members follow.
                plain.removeAll()
                angle = nil
            case UInt8(ascii: ":"):
                // obs-route `<@a,@b:user@c>`: the route is dropped; a colon anywhere else in
                // <> is no part of an address.
                if angle?.first == UInt8(ascii: "@") { angle = [] }
            case UInt8(ascii: ","), UInt8(ascii: ";"):
                // Inside <> only in an obs-route, which its colon drops.
                if angle?.first == UInt8(ascii: "@") { append(byte) }
            default:
                guard byte > 0x20 && byte != 0x7F else { return }
                append(byte)
            }
        }

        mutating func append(_ byte: UInt8) {
            if inAngle {
                angle?.append(byte)
            } else if angle == nil {
                plain.append(byte)
            } // text after the closing > (before the next comma) is not part of the address
        }

        mutating func endAddress() {
            let address = angle ?? plain
            // An obs-route without its colon is no address.
            if !address.isEmpty, !(angle != nil && address.first == UInt8(ascii: "@")) {
                found.append(String(decoding: address, as: UTF8.self))
            }
            plain.removeAll()
            angle = nil
            inAngle = false
            quoted = false
            escaped = false
            commentDepth = 0
            literal = false
        }
    }
}
