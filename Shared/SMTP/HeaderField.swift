/// Header fields of RFC 5322 as the lines of a message: which line starts a field, by the one
/// rule the sendmail command (finding -t's recipients) and the queue (completing a local
/// submission's header) share, so both see the same header section.
public enum HeaderField {
    /// The lower-cased name of a header field line (without its line end), nil when the line is
    /// none: field-name, then blanks (RFC 5322's obsolete syntax allows them), then ":".
    ///
    ///     field      = field-name *WSP ":" unstructured
    ///     field-name = 1*ftext ; ftext = %d33-57 / %d59-126
    public static func name(_ line: some Collection<UInt8>) -> String? {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        var name = Array(line[..<colon])
        while let last = name.last, last == 0x20 || last == 0x09 { name.removeLast() }
        guard !name.isEmpty, name.allSatisfy({ (0x21...0x7E).contains($0) }) else { return nil }
        return String(decoding: name, as: UTF8.self).lowercased()
    }

    /// Whether a line continues the field before it (starts with a blank: RFC 5322 folding).
    public static func isContinuation(_ line: some Collection<UInt8>) -> Bool {
        line.first == 0x20 || line.first == 0x09
    }
}
