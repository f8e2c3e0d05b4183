import Foundation

/// One signing key of a domain: d=, s= and the private key (which gives a=).
public struct DKIMSigningKey: Sendable {
    public var domain: String
    public var selector: String
    public var key: DKIMPrivateKey

    public init(domain: String, selector: String, key: DKIMPrivateKey) {
        self.domain = domain.lowercased()
        self.selector = selector.lowercased()
        self.key = key
    }
}

/// Signs messages (RFC 6376 5, RFC 8463): relaxed/relaxed, SHA-256, a t= timestamp from the
/// injected clock, never l= (a signature covers the whole body, so nothing can be appended).
/// One DKIM-Signature field per key: a domain with an RSA and an Ed25519 key signs twice.
public struct DKIMSigner: Sendable {
    /// RFC 6376 5.4.1's recommended fields, plus those that identify and shape the message.
    /// Each is signed as often as it is present; From once more (over-signed), so that a
    /// second From: added on the way breaks the signature.
    public static let defaultHeaders = [
        "from", "sender", "reply-to", "subject", "date", "message-id", "to", "cc",
        "mime-version", "content-type", "content-transfer-encoding", "content-disposition",
        "resent-date", "resent-from", "resent-to", "resent-cc", "in-reply-to", "references",
        "list-id", "list-help", "list-unsubscribe", "list-subscribe", "list-post", "list-owner", "list-archive",
    ]
    /// Header lines of the signature are folded to stay within this many columns.
    static let width = 78

    public let keys: [DKIMSigningKey]
    public let headers: [String]
    let clock: @Sendable () -> Int64

    /// `headers`: the field names to sign (nil: `defaultHeaders`); From is always signed and
    /// over-signed. `clock`: seconds since the epoch, for t=.
    public init(keys: [DKIMSigningKey], headers: [String]? = nil,
                clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) {
        self.keys = keys
        var names = (headers ?? Self.defaultHeaders).map { $0.lowercased() }
        if !names.contains("from") { names.insert("from", at: 0) }
        self.headers = names
        self.clock = clock
    }

    /// The DKIM-Signature fields for `message` (octets, CRLF or LF line ends), CRLF-terminated,
    /// to be put before the message's first line.
    public func signatureFields(for message: [UInt8]) throws -> [UInt8] {
        let parsed = DKIMMessage(message)
        let bodyHash = Data(DKIMCanonicalization.relaxed.bodyHash(parsed.body)).base64EncodedString()
        var present: [String: Int] = [:]
        for field in parsed.fields { present[field.lowercasedName, default: 0] += 1 }
        let signed = headers.flatMap { name in Array(repeating: name, count: (present[name] ?? 0) + (name == "from" ? 1 : 0)) }
        let now = clock()
        var out: [UInt8] = []
        for key in keys {
            var folder = HeaderFolder()
            for tag in ["v=1", "a=\(key.key.algorithm.rawValue)", "c=relaxed/relaxed", "d=\(key.domain)", "s=\(key.selector)", "t=\(now)"] {
                folder.add(tag + ";", space: true)
            }
            folder.add("h=" + signed[0] + (signed.count > 1 ? ":" : ";"), space: true)
            for (i, name) in signed.enumerated().dropFirst() { folder.add(name + (i == signed.count - 1 ? ";" : ":"), space: false) }
            folder.addBroken("bh=", bodyHash + ";")
            folder.add("b=", space: true)
            let unsigned = DKIMMessage.Field(name: "DKIM-Signature", raw: Array((folder.text + "\r\n").utf8))
            let input = DKIMHeaderHash.input(fields: parsed.fields, signed: signed, canonicalization: .relaxed, signatureField: unsigned)
            let signature = Data(try key.key.sign(input)).base64EncodedString()
            folder.addBroken("", signature)
            out += Array((folder.text + "\r\n").utf8)
        }
        return out
    }

    /// `message` with its signature fields first.
    public func sign(_ message: [UInt8]) throws -> [UInt8] {
        try signatureFields(for: message) + message
    }
}

/// Builds a DKIM-Signature field folded at `DKIMSigner.width` columns.
struct HeaderFolder {
    var text = "DKIM-Signature:"
    var column = 15

    /// An unbreakable piece, after a space (or a fold) or directly after the previous piece
    /// (or after a fold, which the grammar allows there).
    mutating func add(_ piece: String, space: Bool) {
        if column + (space ? 1 : 0) + piece.count > DKIMSigner.width {
            text += "\r\n\t"
            column = 1
        } else if space {
            text += " "
            column += 1
        }
        text += piece
        column += piece.count
    }

    /// `prefix` then `value`, which may be broken anywhere (base64 allows FWS between any two
    /// characters).
    mutating func addBroken(_ prefix: String, _ value: String) {
        if !prefix.isEmpty { add(prefix + String(value.prefix(1)), space: true) }
        var rest = Substring(prefix.isEmpty ? value : String(value.dropFirst()))
        while !rest.isEmpty {
            var room = DKIMSigner.width - column
            if room <= 0 {
                text += "\r\n\t"
                column = 1
                room = DKIMSigner.width - 1
            }
            let piece = rest.prefix(room)
            text += piece
            column += piece.count
            rest = rest.dropFirst(piece.count)
        }
    }
}
