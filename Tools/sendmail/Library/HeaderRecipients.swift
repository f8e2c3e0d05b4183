import SMTP

/// sendmail -t: the recipients a message's header names, and the message without its Bcc:.
///
/// The header section is the message's first lines that are header fields (`HeaderField`: a
/// field name and a colon, or a continuation line), the rule the queue uses too; lines end in
/// LF or CRLF. Recipients are the addresses of To:, Cc: and Bcc:, or of Resent-To:,
/// Resent-Cc: and Resent-Bcc: when the message has any of those (a resent message goes to its
/// resent recipients, RFC 5322 3.6.6), in the order of the fields, each once. Bcc: and
/// Resent-Bcc: fields are removed, continuation lines and all; every other octet of the message
/// is kept as it was.
public struct HeaderRecipients: Equatable, Sendable {
    public var recipients: [String]
    /// The message without its Bcc: fields.
    public var message: [UInt8]

    /// The longest header section read (the queue takes no longer one: 64 KiB).
    public static let maxHeader = 64 * 1024

    public struct Field: Equatable, Sendable {
        /// Lower-cased.
        public var name: String
        /// Octets of the message the field takes, continuation lines and line ends included.
        public var range: Range<Int>
        /// The value: after the colon, continuation lines joined (their line ends dropped).
        public var value: [UInt8]
    }

    public enum Failure: Error, Equatable, Sendable {
        case headerTooLarge(limit: Int)
    }

    public static func extract(_ message: [UInt8]) throws(Failure) -> HeaderRecipients {
        let fields = try Self.fields(message)
        let resent = fields.contains { ["resent-to", "resent-cc", "resent-bcc"].contains($0.name) }
        let names: Set<String> = resent ? ["resent-to", "resent-cc", "resent-bcc"] : ["to", "cc", "bcc"]
        var recipients: [String] = []
        var seen = Set<String>()
        for field in fields where names.contains(field.name) {
            for address in AddressList.addresses(field.value) where seen.insert(address.lowercased()).inserted {
                recipients.append(address)
            }
        }
        var kept: [UInt8] = []
        kept.reserveCapacity(message.count)
        var next = 0
        for field in fields where field.name == "bcc" || field.name == "resent-bcc" {
            kept += message[next..<field.range.lowerBound]
            next = field.range.upperBound
        }
        kept += message[next...]
        return HeaderRecipients(recipients: recipients, message: kept)
    }

    /// The header section's fields in order.
    public static func fields(_ message: [UInt8]) throws(Failure) -> [Field] {
        var fields: [Field] = []
        var start = 0
        while start < message.count {
            let newline = message[start...].firstIndex(of: 0x0A)
            let end = newline.map { $0 + 1 } ?? message.count
            var content = message[start..<(newline ?? message.count)]
            if content.last == 0x0D { content = content.dropLast() }
            if HeaderField.isContinuation(content), !fields.isEmpty {
                fields[fields.count - 1].range = fields[fields.count - 1].range.lowerBound..<end
                fields[fields.count - 1].value += content
            } else if let name = HeaderField.name(content) {
                let colon = content.firstIndex(of: UInt8(ascii: ":"))!
                fields.append(Field(name: name, range: start..<end, value: Array(content[(colon + 1)...])))
            } else {
                break // the blank line, or the first line of the body
            }
            guard end <= maxHeader else { throw .headerTooLarge(limit: maxHeader) }
            start = end
        }
        return fields
    }
}
