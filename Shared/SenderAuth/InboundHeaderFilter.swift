/// The message's header section as smtp-in passes it on (RFC 8601 5): Authentication-Results:
/// fields that carry our authserv-id, and our own quarantine mark, are removed when they come
/// from outside; the From: fields are kept aside for DMARC. Byte-level, in any chunking: each
/// header field is held until the next one starts (at most `maxField` octets; a longer field is
/// passed on, or still dropped when it was to be dropped), and the body goes through untouched.
public struct InboundHeaderFilter: Sendable {
    public let authservID: String
    /// Fields removed whatever their content (lower case): our own marks.
    public let dropNames: Set<String>
    public private(set) var fromFields: [String] = []
    public private(set) var removed = 0
    public private(set) var inBody = false

    var pending: [UInt8] = []   // a line not yet ended
    var field: [UInt8] = []     // the header field being held
    var overflow: Overflow = .none

    enum Overflow {
        case none, passing, dropping
    }

    public static let maxField = 65536
    static let maxFromFields = 10

    public init(authservID: String, dropNames: Set<String> = ["x-mailstack-quarantine"]) {
        self.authservID = authservID.lowercased()
        self.dropNames = dropNames
    }

    /// What to pass on of these octets.
    public mutating func feed(_ bytes: some Collection<UInt8>) -> [UInt8] {
        if inBody { return Array(bytes) }
        var out: [UInt8] = []
        var index = bytes.startIndex
        while index != bytes.endIndex {
            if inBody {
                out += bytes[index...]
                break
            }
            let byte = bytes[index]
            index = bytes.index(after: index)
            pending.append(byte)
            if byte == 0x0a || pending.count >= Self.maxField {
                out += line(pending)
                pending.removeAll(keepingCapacity: true)
            }
        }
        return out
    }

    /// At the end of the message: whatever is still held.
    public mutating func finish() -> [UInt8] {
        var out = inBody ? [] : line(pending)
        pending = []
        if !inBody { out += release() }
        return out
    }

    mutating func line(_ line: [UInt8]) -> [UInt8] {
        guard !line.isEmpty else { return [] }
        if line == [0x0d, 0x0a] || line == [0x0a] {
            inBody = true
            return release() + line
        }
        if line.first == 0x20 || line.first == 0x09 {
            switch overflow {
            case .passing: return line
            case .dropping: return []
            case .none: break
            }
            field += line
            if field.count > Self.maxField {
                overflow = shouldDrop() ? .dropping : .passing
                let held = field
                field = []
                if overflow == .dropping { removed += 1; return [] }
                return held
            }
            return []
        }
        let out = release()
        field = line
        return out
    }

    /// Ends the held field: passes it on or drops it.
    mutating func release() -> [UInt8] {
        defer { field = []; overflow = .none }
        guard !field.isEmpty else { return [] }
        if name(of: field) == "from", fromFields.count < Self.maxFromFields {
            fromFields.append(String(decoding: value(of: field).filter { $0 != 0x0d && $0 != 0x0a }, as: UTF8.self))
        }
        if shouldDrop() {
            removed += 1
            return []
        }
        return field
    }

    func name(of field: [UInt8]) -> String {
        guard let colon = field.prefix(256).firstIndex(of: UInt8(ascii: ":")) else { return "" }
        return String(decoding: field[..<colon], as: UTF8.self).trimmingCharacters(in: [" ", "\t"]).lowercased()
    }

    func value(of field: [UInt8]) -> ArraySlice<UInt8> {
        guard let colon = field.firstIndex(of: UInt8(ascii: ":")) else { return [] }
        return field[(colon + 1)...]
    }

    func shouldDrop() -> Bool {
        let name = name(of: field)
        if dropNames.contains(name) { return true }
        guard name == "authentication-results" else { return false }
        return Self.authservID(of: value(of: field)) == authservID
    }

    /// The authserv-id of an Authentication-Results: value: the first token after comments and
    /// blanks (a quoted-string unquoted), lower case.
    static func authservID(of value: ArraySlice<UInt8>) -> String {
        var id: [UInt8] = []
        var depth = 0
        var quoted = false
        for byte in value.prefix(4096) {
            if quoted {
                if byte == UInt8(ascii: "\"") { break }
                if byte != 0x0d && byte != 0x0a { id.append(byte) }
                continue
            }
            if depth > 0 {
                if byte == UInt8(ascii: "(") { depth += 1 } else if byte == UInt8(ascii: ")") { depth -= 1 }
                continue
            }
            switch byte {
            case UInt8(ascii: "("): if !id.isEmpty { return lowered(id) }; depth = 1
            case UInt8(ascii: "\""): if !id.isEmpty { return lowered(id) }; quoted = true
            case 0x20, 0x09, 0x0d, 0x0a: if !id.isEmpty { return lowered(id) }
            case UInt8(ascii: ";"): return lowered(id)
            default: id.append(byte)
            }
        }
        return lowered(id)
    }

    static func lowered(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self).lowercased()
    }
}

extension String {
    func trimmingCharacters(in set: Set<Character>) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}
