/// Counts a message's trace header fields as its header streams past, as sendmail counts hops
/// (`H_TRACE` fields: Received:, Via:, Mail-From:) against MaxHopCount: a message that has
/// been through more hosts than that is in a loop and is refused (`554 5.4.6 Too many hops`).
///
/// Fed the message octets in order, in pieces of any size; stops looking at the first empty
/// line (the end of the header, RFC 5322 section 2.1). Field names are compared without regard
/// to case; a continuation line (starting with white space) is part of the field before it.
public struct HopCounter: Sendable {
    public private(set) var hops = 0
    var inHeader = true
    var atLineStart = true
    /// The current line's first octets, up to the colon (or `maxName` octets).
    var name: [UInt8] = []
    var nameDone = false
    static let maxName = 10
    static let traceFields: Set<[UInt8]> = [Array("received".utf8), Array("via".utf8), Array("mail-from".utf8)]

    public init() {}

    /// Whether the header has ended (later octets are not looked at).
    public var headerDone: Bool { !inHeader }

    public mutating func feed<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        guard inHeader else { return }
        for byte in bytes {
            if byte == 0x0A {
                atLineStart = true
                continue
            }
            if atLineStart {
                atLineStart = false
                if byte == 0x0D {
                    inHeader = false // the empty line: CR LF
                    return
                }
                name.removeAll(keepingCapacity: true)
                nameDone = byte == 0x20 || byte == 0x09 // a continuation line names no field
                if !nameDone { name.append(byte | 0x20) }
                continue
            }
            guard !nameDone else { continue }
            if byte == UInt8(ascii: ":") {
                nameDone = true
                if Self.traceFields.contains(name) { hops += 1 }
            } else if name.count >= Self.maxName {
                nameDone = true
            } else {
                name.append(byte | 0x20) // ASCII letters lower-cased; "-" keeps its value
            }
        }
    }
}
