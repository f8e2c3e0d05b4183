import Foundation
import SMTP

/// What the queue changes in a message's header section at acceptance, as sendmail did:
/// MASQUERADE_AS (sender addresses of this host's own names become `user@<masquerade domain>`,
/// in From:, Sender:, Resent-From: and, with masquerade_envelope, the envelope sender), and a
/// Date: and Message-ID: when the message has none.
public struct HeaderRewriter: Sendable {
    /// The domain to masquerade as; nil: off.
    public var masqueradeAs: String?
    /// Names whose addresses are masqueraded: the host's own names (sendmail's class w).
    public var masqueradeDomains: Set<String>
    public var masqueradeEnvelope: Bool
    /// $j, for the Message-ID.
    public var hostname: String

    public init(masqueradeAs: String?, masqueradeDomains: Set<String>, masqueradeEnvelope: Bool, hostname: String) {
        self.masqueradeAs = masqueradeAs?.lowercased()
        self.masqueradeDomains = Set(masqueradeDomains.map { $0.lowercased() })
        self.masqueradeEnvelope = masqueradeEnvelope
        self.hostname = hostname
    }

    /// The offset just past the empty line that ends the header section (CRLF lines), if it is
    /// in `bytes`.
    public static func endOfHeader(_ bytes: [UInt8]) -> Int? {
        if bytes.count >= 2, bytes[0] == 0x0D, bytes[1] == 0x0A { return 2 }
        var i = 0
        while i + 3 < bytes.count {
            if bytes[i] == 0x0D, bytes[i + 1] == 0x0A, bytes[i + 2] == 0x0D, bytes[i + 3] == 0x0A { return i + 4 }
            i += 1
        }
        return nil
    }

    /// The longest header section rewritten; a longer one is passed on unchanged.
    public static let maxHeaderSection = 256 * 1024

    /// The envelope sender after masquerading.
    public func envelopeSender(_ sender: String) -> String {
        guard masqueradeEnvelope, !sender.isEmpty else { return sender }
        return masquerade(sender)
    }

    func masquerade(_ address: String) -> String {
        guard let domain = masqueradeAs else { return address }
        guard let at = address.lastIndex(of: "@") else { return address + "@" + domain }
        let host = address[address.index(after: at)...].lowercased()
        guard masqueradeDomains.contains(host) else { return address }
        return address[..<at] + "@" + domain
    }

    /// The rewritten header section. `section` is the message's header lines up to and including
    /// the empty line that ends them (CRLF line ends), or the whole message when it has no body.
    /// Returns the section and the message's Message-ID (as found or as added).
    public func rewrite(_ section: [UInt8], id: String, now: Int64) -> (section: [UInt8], messageID: String) {
        var fields = Self.fields(section)
        var changed = false
        let names = fields.map { $0.name.lowercased() }
        if masqueradeAs != nil {
            for i in fields.indices where ["from", "sender", "resent-from"].contains(names[i]) {
                let rewritten = masqueradeField(fields[i].value)
                if rewritten != fields[i].value {
                    fields[i].value = rewritten
                    fields[i].raw = []
                    changed = true
                }
            }
        }
        var added: [String] = []
        // Unfolded (RFC 5322 section 2.2.3: CR and LF removed): it is logged as msgid=.
        var messageID = fields.first { $0.name.lowercased() == "message-id" }
            .map { String(String.UnicodeScalarView($0.value.unicodeScalars.filter { $0 != "\r" && $0 != "\n" })) }?
            .trimmingCharacters(in: .whitespaces) ?? ""
        if !names.contains("date") { added.append("Date: \(RFC5322Date.format(now))") }
        if !names.contains("message-id") {
            messageID = "<\(id)@\(hostname)>"
            added.append("Message-ID: \(messageID)")
        }
        guard changed || !added.isEmpty else { return (section, messageID) }
        var out: [UInt8] = []
        out.reserveCapacity(section.count + 128)
        for field in fields {
            out += field.raw.isEmpty ? Array("\(field.name):\(field.value)".utf8) : field.raw
        }
        // Added fields go before the empty line that ends the section.
        // Only the empty line itself: a last line that is no field (no colon) also has no name,
        // and the added fields would be glued to its end.
        let endsWithBlank = out.count >= 2 && out.suffix(2) == [0x0D, 0x0A] && fields.last?.name == "" && fields.last?.raw == [0x0D, 0x0A]
        if endsWithBlank { out.removeLast(2) }
        for line in added { out += Array((line + "\r\n").utf8) }
        if endsWithBlank { out += [0x0D, 0x0A] }
        return (out, messageID)
    }

    struct Field {
        var name: String
        var value: String
        /// The original octets; emptied when the field is rewritten.
        var raw: [UInt8]
    }

    /// Splits a header section into fields (continuation lines kept with their field).
    static func fields(_ section: [UInt8]) -> [Field] {
        var fields: [Field] = []
        var start = 0
        var i = 0
        func lineEnd(_ from: Int) -> Int {
            var j = from
            while j < section.count, section[j] != 0x0A { j += 1 }
            return min(j + 1, section.count)
        }
        while i < section.count {
            var end = lineEnd(i)
            if end - i <= 2 && (section[i] == 0x0D || section[i] == 0x0A) {
                fields.append(Field(name: "", value: "", raw: Array(section[i..<end]))) // the empty line
                i = end
                start = i
                break
            }
            while end < section.count, section[end] == 0x20 || section[end] == 0x09 { end = lineEnd(end) }
            let raw = Array(section[i..<end])
            let text = String(decoding: raw, as: UTF8.self)
            if let colon = text.firstIndex(of: ":") {
                fields.append(Field(name: String(text[..<colon]), value: String(text[text.index(after: colon)...]), raw: raw))
            } else {
                fields.append(Field(name: "", value: "", raw: raw))
            }
            i = end
            start = i
        }
        if start < section.count { fields.append(Field(name: "", value: "", raw: Array(section[start...]))) }
        return fields
    }

    /// Rewrites `user@host` of the masqueraded names inside a From:-like field value (whose line
    /// end is kept), leaving display names and comments alone.
    func masqueradeField(_ value: String) -> String {
        guard let domain = masqueradeAs else { return value }
        var out = value
        for host in masqueradeDomains {
            var search = out.startIndex
            while let range = out.range(of: "@" + host, options: [.caseInsensitive], range: search..<out.endIndex) {
                let after = range.upperBound
                let boundary = after == out.endIndex || !(out[after].isLetter || out[after].isNumber || out[after] == "." || out[after] == "-")
                if boundary {
                    out.replaceSubrange(range, with: "@" + domain)
                    search = out.index(range.lowerBound, offsetBy: domain.count + 1)
                } else {
                    search = after
                }
            }
        }
        return out
    }
}
