import Maildir

/// The names pop3 lists in a Maildir's cur/ (`Maildir.parseName`, read as octets), against the
/// Character-based reading they replaced (below) on ASCII names; on any name, the unique part is
/// the name's text up to its first `:` that follows something.
///
/// Properties: the unique part holds no `:`; for ASCII names the unique part, the `W=` size and
/// the arrival key are what the Character-based reading gives.
func fuzzMaildirName(_ bytes: [UInt8]) {
    let name = String(decoding: bytes.filter { $0 != 0 && $0 != UInt8(ascii: "/") }, as: UTF8.self)
    let parsed = Maildir.parseName(name)
    check(!parsed.unique.utf8.contains(UInt8(ascii: ":")), "unique part \(parsed.unique.debugDescription) holds a colon")
    guard name.utf8.allSatisfy({ $0 < 0x80 }) else { return }
    let unique = String(name.split(separator: ":", maxSplits: 1).first ?? "")
    check(parsed.unique == unique, "\(name.debugDescription): unique \(parsed.unique.debugDescription), not \(unique.debugDescription)")
    let wire = characterField("W", in: unique)
    check(parsed.wireSize == wire, "\(name.debugDescription): W= \(String(describing: parsed.wireSize)), not \(String(describing: wire))")
    let key = characterArrivalKey(unique)
    check(parsed.key == key, "\(name.debugDescription): arrival \(parsed.key), not \(key)")
}

/// `,KEY=number` read Character by Character (the reading before octets).
private func characterField(_ key: String, in name: String) -> Int? {
    for part in name.split(separator: ",").dropFirst() where part.hasPrefix(key + "=") {
        return Int(part.dropFirst(key.count + 1))
    }
    return nil
}

/// `<seconds>.M<micros>P<pid>Q<n>.<host>` read Character by Character (the reading before octets).
private func characterArrivalKey(_ unique: String) -> (seconds: Int, micros: Int, sequence: Int) {
    let parts = unique.split(separator: ".", maxSplits: 2)
    guard parts.count >= 2, let seconds = Int(parts[0]), parts[1].first == "M" else { return (0, 0, 0) }
    func number(after marker: Character) -> Int {
        guard let start = parts[1].firstIndex(of: marker) else { return 0 }
        return Int(parts[1][parts[1].index(after: start)...].prefix { $0.isASCII && $0.isNumber }) ?? 0
    }
    return (seconds, number(after: "M"), number(after: "Q"))
}
