/// What the header signature covers (RFC 6376 3.7, 5.4.2): the fields named by h=, each
/// taken from the bottom of the header up (a name listed more often than present selects
/// nothing the extra times: over-signing), canonicalised, then the DKIM-Signature field itself
/// with b= empty and without its final CRLF.
enum DKIMHeaderHash {
    static func input(fields: [DKIMMessage.Field], signed names: [String], canonicalization: DKIMCanonicalization,
                      signatureField: DKIMMessage.Field) -> [UInt8] {
        var unused: [String: [Int]] = [:] // name -> indices of instances not yet taken, top to bottom
        for (index, field) in fields.enumerated() { unused[field.lowercasedName, default: []].append(index) }
        var out: [UInt8] = []
        for name in names {
            guard let index = unused[name]?.popLast() else { continue }
            out += canonicalization.header(fields[index])
        }
        var signature = canonicalization.header(DKIMMessage.Field(name: signatureField.name, raw: withoutSignatureValue(signatureField.raw)))
        if signature.suffix(2) == [0x0D, 0x0A] { signature.removeLast(2) }
        return out + signature
    }

    /// The field with the value of its b= tag deleted (everything after `b=` up to the next `;`
    /// or the end of the field), its final CRLF kept.
    static func withoutSignatureValue(_ raw: [UInt8]) -> [UInt8] {
        guard let colon = raw.firstIndex(of: UInt8(ascii: ":")) else { return raw }
        let end = raw.suffix(2) == [0x0D, 0x0A] ? raw.count - 2 : raw.count
        var start = colon + 1
        while start < end {
            let semicolon = raw[start..<end].firstIndex(of: UInt8(ascii: ";")) ?? end
            if let equals = raw[start..<semicolon].firstIndex(of: UInt8(ascii: "=")),
               DKIMText.trimmed(raw[start..<equals]).elementsEqual("b".utf8) {
                return Array(raw[..<(equals + 1)]) + raw[semicolon...]
            }
            start = semicolon + 1
        }
        return raw
    }
}
