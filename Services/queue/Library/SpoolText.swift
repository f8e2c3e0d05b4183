/// The text records of the spool's files (a message's header, its state), read and written as
/// octets. Never as Swift `Character`s: a value starting with a combining mark (U+0301) or a
/// ZWJ would join the space or line feed before it into one grapheme cluster, and splitting on
/// " " or "\n" would then miss that separator and lose the field.
///
/// A record is a line: a keyword, then fields separated by one space, then LF. Values are
/// escaped so that no value can end a line or a field: octets 0x00-0x20, `%` and 0x7F are written
/// as `%XX`, every other octet (UTF-8 included) as itself.
enum SpoolText {
    static let lineFeed: UInt8 = 0x0A
    static let space: UInt8 = 0x20
    static let percent: UInt8 = 0x25

    static func needsEscape(_ byte: UInt8) -> Bool { byte <= space || byte == percent || byte == 0x7F }

    /// Appends `value`, escaped, to `out`.
    static func append(_ value: String, to out: inout [UInt8]) {
        for byte in value.utf8 {
            if needsEscape(byte) {
                out += [percent, hexDigit(byte >> 4), hexDigit(byte & 0x0F)]
            } else {
                out.append(byte)
            }
        }
    }

    /// Appends a record: the keyword, each field escaped, LF.
    static func appendRecord(_ keyword: String, _ fields: [String], to out: inout [UInt8]) {
        out += keyword.utf8
        for field in fields {
            out.append(space)
            append(field, to: &out)
        }
        out.append(lineFeed)
    }

    /// The value of an escaped field; nil when the field is not something `append` writes (a
    /// `%` without two hex digits after it, or octets that are not UTF-8).
    static func unescape(_ field: ArraySlice<UInt8>) -> String? {
        guard field.contains(percent) else { return String(validating: field, as: UTF8.self) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(field.count)
        var i = field.startIndex
        while i < field.endIndex {
            if field[i] == percent {
                guard i + 2 < field.endIndex, let high = hexValue(field[i + 1]), let low = hexValue(field[i + 2]) else { return nil }
                bytes.append(high << 4 | low)
                i += 3
            } else {
                bytes.append(field[i])
                i += 1
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// The lines of `bytes`, split on LF only (the last one is what follows the last LF).
    static func lines(_ bytes: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        bytes.split(separator: lineFeed, omittingEmptySubsequences: false)
    }

    /// The space-separated fields of a line.
    static func fields(_ line: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        line.split(separator: space, omittingEmptySubsequences: false)
    }

    /// A decimal number written by the spool (ASCII digits, an optional minus sign).
    static func integer<T: FixedWidthInteger>(_ field: ArraySlice<UInt8>, as: T.Type = T.self) -> T? {
        guard !field.isEmpty, field.allSatisfy({ (0x30...0x39).contains($0) || $0 == 0x2D }) else { return nil }
        return T(String(decoding: field, as: UTF8.self))
    }

    static func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 0x30 + nibble : 0x41 + nibble - 10 }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }
}
