import IPC

/// A queued message's envelope: what smtp-in received with the message (RFC 5321 and the DSN,
/// 8BITMIME and SMTPUTF8 parameters), plus the queue id and arrival time. It is the header of
/// the spool file, written once and never changed; delivery progress lives in `QueueState`.
public struct QueueEnvelope: Equatable, Sendable {
    public struct Recipient: Equatable, Sendable {
        public var address: String
        /// NOTIFY bits (`Notify`); 0 when the client gave none.
        public var notify: UInt32
        public var orcpt: String

        public init(address: String, notify: UInt32 = 0, orcpt: String = "") {
            self.address = address
            self.notify = notify
            self.orcpt = orcpt
        }

        /// RFC 3461: without NOTIFY, failures and delays are reported, successes are not.
        public func wants(_ kind: UInt32) -> Bool {
            if notify == 0 { return kind == Notify.failure || kind == Notify.delay }
            return notify & Notify.never == 0 && notify & kind != 0
        }
    }

    /// NOTIFY= bits, as in ipc.proto.
    public enum Notify {
        public static let success: UInt32 = 1
        public static let failure: UInt32 = 2
        public static let delay: UInt32 = 4
        public static let never: UInt32 = 8
    }

    public var id: String
    /// Epoch seconds.
    public var arrival: Int64
    /// Without <>; empty for the null sender.
    public var sender: String
    public var recipients: [Recipient]
    public var envid: String = ""
    /// "FULL", "HDRS" or "" (not given).
    public var ret: String = ""
    /// "8BITMIME", "7BIT" or "".
    public var body: String = ""
    public var smtputf8 = false
    public var clientAddress: String = ""
    public var clientName: String = ""
    public var helo: String = ""

    public init(id: String, arrival: Int64, sender: String, recipients: [Recipient]) {
        self.id = id
        self.arrival = arrival
        self.sender = sender
        self.recipients = recipients
    }

    /// The envelope of a submitted message.
    public init(id: String, arrival: Int64, submit: Mailstack_Ipc_QueueSubmit) {
        self.init(id: id, arrival: arrival, sender: submit.sender,
                  recipients: submit.recipients.map { Recipient(address: $0.address, notify: $0.notify, orcpt: $0.orcpt) })
        envid = submit.envid
        ret = submit.ret == .retFull ? "FULL" : submit.ret == .retHdrs ? "HDRS" : ""
        body = submit.body == .body8Bitmime ? "8BITMIME" : submit.body == .body7Bit ? "7BIT" : ""
        smtputf8 = submit.smtputf8
        clientAddress = submit.clientAddress
        clientName = submit.clientName
        helo = submit.helo
    }

    /// "name [address]" of the client, as sendmail logs it.
    public var relay: String {
        clientAddress.isEmpty ? "localhost" : "\(clientName.isEmpty ? "" : clientName + " ")[\(clientAddress)]"
    }

    // MARK: the spool file's header

    static let magic = "mailstack-queue 1"

    /// The largest header written or read. smtp-in accepts at most 1000 recipients (the
    /// ceiling of smtp.max_recipients, Shared/Config); at the RFC maxima (a 256-octet path,
    /// RFC 5321 4.5.3.1.3; a 500-octet ORCPT, RFC 3461 4.2) with every octet escaped that is
    /// about 2.3 MB. The bound also caps what recovery reads into memory for a damaged file.
    public static let maxHeaderLength = 4 * 1024 * 1024

    /// An envelope the spool header cannot carry.
    public struct Unstorable: Error, CustomStringConvertible {
        public var description: String
    }

    /// The header lines, ended by an empty line. Values are escaped (`%`, control characters and
    /// spaces as %XX), so no value can break a line or a field. A header over `maxHeaderLength`
    /// is refused here, before the message is taken, rather than written and lost at the next start.
    func serialized() throws -> String {
        var lines = [Self.magic, "id \(id)", "arrival \(arrival)", "sender \(Self.escape(sender))"]
        if !envid.isEmpty { lines.append("envid \(Self.escape(envid))") }
        if !ret.isEmpty { lines.append("ret \(ret)") }
        if !body.isEmpty { lines.append("body \(body)") }
        if smtputf8 { lines.append("smtputf8 1") }
        if !clientAddress.isEmpty { lines.append("client \(Self.escape(clientAddress)) \(Self.escape(clientName))") }
        if !helo.isEmpty { lines.append("helo \(Self.escape(helo))") }
        for r in recipients {
            lines.append("rcpt \(r.notify) \(Self.escape(r.address)) \(Self.escape(r.orcpt))")
        }
        let header = lines.joined(separator: "\n") + "\n\n"
        guard header.utf8.count <= Self.maxHeaderLength else {
            throw Unstorable(description: "header of \(recipients.count) recipients exceeds \(Self.maxHeaderLength) octets")
        }
        return header
    }

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    /// Parses the header written by `serialized()`.
    static func parse(_ text: Substring) throws -> QueueEnvelope {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)[...]
        guard lines.first == Substring(magic) else { throw ParseError(description: "not a mailstack queue file") }
        lines = lines.dropFirst()
        var envelope = QueueEnvelope(id: "", arrival: 0, sender: "", recipients: [])
        for line in lines where !line.isEmpty {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            let value = fields.count > 1 ? unescape(fields[1]) : ""
            switch fields[0] {
            case "id": envelope.id = value
            case "arrival": envelope.arrival = Int64(value) ?? 0
            case "sender": envelope.sender = value
            case "envid": envelope.envid = value
            case "ret": envelope.ret = value
            case "body": envelope.body = value
            case "smtputf8": envelope.smtputf8 = value == "1"
            case "client":
                envelope.clientAddress = value
                envelope.clientName = fields.count > 2 ? unescape(fields[2]) : ""
            case "helo": envelope.helo = value
            case "rcpt":
                guard fields.count >= 3, let notify = UInt32(fields[1]) else { throw ParseError(description: "bad rcpt line") }
                envelope.recipients.append(Recipient(address: unescape(fields[2]), notify: notify,
                                                     orcpt: fields.count > 3 ? unescape(fields[3]) : ""))
            default:
                break // a field of a later version: ignored
            }
        }
        guard !envelope.id.isEmpty, envelope.arrival > 0, !envelope.recipients.isEmpty else {
            throw ParseError(description: "header lacks id, arrival or recipients")
        }
        return envelope
    }

    static func escape(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 <= 0x20 || $0 == 0x25 || $0 == 0x7F }) else { return value }
        var bytes: [UInt8] = []
        for byte in value.utf8 {
            if byte <= 0x20 || byte == 0x25 || byte == 0x7F {
                bytes += Array(("%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)).utf8)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func unescape(_ value: String) -> String {
        guard value.contains("%") else { return value }
        var bytes: [UInt8] = []
        var utf8 = value.utf8[...]
        while let byte = utf8.first {
            utf8 = utf8.dropFirst()
            if byte == 0x25, utf8.count >= 2, let decoded = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(decoded)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
