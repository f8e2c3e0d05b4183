import SMTP

/// The spool file's header: the envelope as text records (`SpoolText`), ended by an empty line.
///
///     mailstack-queue 1
///     id <queue id>
///     arrival <epoch seconds>
///     sender <address>
///     envid <ENVID>                      (when given)
///     ret FULL|HDRS                      (when given)
///     body 7BIT|8BITMIME                 (when given)
///     smtputf8 1                         (when given)
///     client <address> <name>            (when known)
///     helo <HELO/EHLO argument>          (when given)
///     rcpt <notify bits> <address> <ORCPT>   (one per recipient, in order)
///     <empty line>
///
/// Every text value can be carried (escaped); what cannot be (an id that is no file name, an
/// no recipients, a header over `maxHeaderLength`) is refused by the writer,
/// before the message is taken, never written to be lost at the next start.
extension QueueEnvelope {
    static let magic = "mailstack-queue 1"

    /// The largest header written or read. smtp-in accepts at most 1000 recipients (the
    /// ceiling of smtp.max_recipients, Shared/Config); at the RFC maxima (a 256-octet path,
    /// RFC 5321 4.5.3.1.3; a 500-octet ORCPT, RFC 3461 4.2) with every octet escaped that is
    /// about 2.3 MB. The bound also caps what recovery reads into memory for a damaged file.
    public static let maxHeaderLength = 4 * 1024 * 1024

    /// The longest queue id: ids name files (and QueueID makes 14 characters).
    static let maxIDLength = 64

    /// An envelope the spool header cannot carry.
    public struct Unstorable: Error, CustomStringConvertible {
        public var description: String
    }

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    /// The header, or `Unstorable` for what could not be read back exactly.
    public func serialized() throws -> [UInt8] {
        guard !id.isEmpty, id.utf8.count <= Self.maxIDLength, id.utf8.allSatisfy(Self.isIDOctet) else {
            throw Unstorable(description: "queue id '\(id)' is not 1 to \(Self.maxIDLength) letters and digits")
        }
        guard arrival > 0 else { throw Unstorable(description: "arrival \(arrival) is not a positive epoch time") }
        guard !recipients.isEmpty else { throw Unstorable(description: "no recipients") }
        var out = Array((Self.magic + "\n").utf8)
        SpoolText.appendRecord("id", [id], to: &out)
        SpoolText.appendRecord("arrival", [String(arrival)], to: &out)
        SpoolText.appendRecord("sender", [sender], to: &out)
        if !envid.isEmpty { SpoolText.appendRecord("envid", [envid], to: &out) }
        if let ret { SpoolText.appendRecord("ret", [ret.rawValue], to: &out) }
        if let body { SpoolText.appendRecord("body", [body.rawValue], to: &out) }
        if smtputf8 { SpoolText.appendRecord("smtputf8", ["1"], to: &out) }
        if !clientAddress.isEmpty || !clientName.isEmpty { SpoolText.appendRecord("client", [clientAddress, clientName], to: &out) }
        if !helo.isEmpty { SpoolText.appendRecord("helo", [helo], to: &out) }
        for r in recipients {
            SpoolText.appendRecord("rcpt", [String(r.notify.rawValue), r.address, r.orcpt], to: &out)
            // Checked as it grows: a huge envelope is refused without building all of it.
            guard out.count < Self.maxHeaderLength else { break }
        }
        out.append(SpoolText.lineFeed)
        guard out.count <= Self.maxHeaderLength else {
            throw Unstorable(description: "header of \(recipients.count) recipients exceeds \(Self.maxHeaderLength) octets")
        }
        return out
    }

    /// The case whose keyword `value` is, compared as octets (String's == would take
    /// canonically equivalent text as equal); a keyword of no case is a damaged header.
    static func keyword<K: RawRepresentable & CaseIterable>(_ value: String, of _: K.Type) throws -> K where K.RawValue == String {
        guard let match = K.allCases.first(where: { $0.rawValue.utf8.elementsEqual(value.utf8) }) else {
            throw ParseError(description: "unknown RET or BODY")
        }
        return match
    }

    static func isIDOctet(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }

    /// Parses a whole header as `serialized()` writes it, its empty line included.
    public static func parse(_ header: ArraySlice<UInt8>) throws -> QueueEnvelope {
        var lines = SpoolText.lines(header)
        // "...\n\n" splits into the records, an empty line and the empty rest after it.
        guard lines.count >= 3, lines.removeLast().isEmpty, lines.removeLast().isEmpty, !lines.contains(where: \.isEmpty) else {
            throw ParseError(description: "the header does not end with its first empty line")
        }
        guard lines.removeFirst().elementsEqual(magic.utf8) else { throw ParseError(description: "not a mailstack queue file") }
        var envelope = QueueEnvelope(id: "", arrival: 0, sender: "", recipients: [])
        for line in lines {
            let fields = SpoolText.fields(line)
            func value(_ i: Int) throws -> String {
                guard i < fields.count else { return "" }
                guard let text = SpoolText.unescape(fields[i]) else {
                    throw ParseError(description: "bad value in '\(String(decoding: fields[0], as: UTF8.self))' line")
                }
                return text
            }
            switch String(decoding: fields[0], as: UTF8.self) {
            case "id": envelope.id = try value(1)
            case "arrival": envelope.arrival = fields.count > 1 ? SpoolText.integer(fields[1], as: Int64.self) ?? 0 : 0
            case "sender": envelope.sender = try value(1)
            case "envid": envelope.envid = try value(1)
            case "ret": envelope.ret = try keyword(try value(1), of: DSNReturn.self)
            case "body": envelope.body = try keyword(try value(1), of: SMTPBodyType.self)
            case "smtputf8": envelope.smtputf8 = try value(1) == "1"
            case "client": (envelope.clientAddress, envelope.clientName) = (try value(1), try value(2))
            case "helo": envelope.helo = try value(1)
            case "rcpt":
                guard fields.count >= 3, let notify = SpoolText.integer(fields[1], as: UInt32.self) else {
                    throw ParseError(description: "bad rcpt line")
                }
                envelope.recipients.append(Recipient(address: try value(2), notify: DSNNotify(rawValue: notify), orcpt: try value(3)))
            default:
                break // a field of a later version: ignored
            }
        }
        guard !envelope.id.isEmpty, envelope.arrival > 0, !envelope.recipients.isEmpty else {
            throw ParseError(description: "header lacks id, arrival or recipients")
        }
        return envelope
    }
}
