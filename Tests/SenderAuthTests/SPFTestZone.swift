import Foundation

/// A zone of the RFC 7208 test suite (its `zonedata`) as a dnsmasq configuration file, the way
/// the suite's own driver serves it: type SPF records are served as TXT when the name has no TXT
/// (type 99 is not asked for since RFC 7208), TIMEOUT names are forwarded to a silent port, so
/// they time out for real. A zone that cannot be written for dnsmasq says why.
struct SPFTestZone {
    var lines: [String] = []
    /// Records dnsmasq cannot serve, left out (the cases that need them are in the skip list).
    var unsupported: [String] = []

    init(_ zonedata: [String: Any]) {
        for (rawName, rawRecords) in zonedata.sorted(by: { $0.key < $1.key }) {
            let name = rawName.lowercased().hasSuffix(".") ? String(rawName.lowercased().dropLast()) : rawName.lowercased()
            guard Self.representable(name) else { unsupported.append("name \(name)"); continue }
            let records = rawRecords as? [Any] ?? []
            let hasTXT = records.contains { ($0 as? [String: Any])?["TXT"] != nil }
            for record in records {
                if let word = record as? String {
                    if word == "TIMEOUT" { lines.append("server=/\(name)/127.0.0.1#9") } else { unsupported.append("\(word) at \(name)") }
                    continue
                }
                guard let fields = record as? [String: Any], let (type, value) = fields.first else { continue }
                switch type {
                case "TXT", "SPF":
                    if type == "SPF" && hasTXT { continue }
                    if let text = value as? String, text == "NONE" { continue }
                    let strings = (value as? [Any])?.map { "\($0)" } ?? ["\(value)"]
                    guard !strings.contains(where: { $0.contains("\u{0}") }) else { unsupported.append("TXT with a NUL at \(name)"); continue }
                    lines.append("txt-record=\(name)," + strings.map(Self.quoted).joined(separator: ","))
                case "A", "AAAA":
                    lines.append("host-record=\(name),\(value)")
                case "MX":
                    guard let pair = value as? [Any], pair.count == 2, let target = pair[1] as? String, Self.representable(target.lowercased()) else {
                        unsupported.append("MX at \(name)"); continue
                    }
                    lines.append("mx-host=\(name),\(target.lowercased()),\(pair[0])")
                case "PTR":
                    lines.append("ptr-record=\(name),\(value)")
                case "CNAME":
                    // dnsmasq refuses a zone with a CNAME chain that loops.
                    var target = "\(value)".lowercased()
                    if target.hasSuffix(".") { target.removeLast() }
                    guard !Self.isCNAME(target, in: zonedata) else { unsupported.append("CNAME chain at \(name)"); continue }
                    lines.append("cname=\(name),\(target)")
                default:
                    unsupported.append("\(type) at \(name)")
                }
            }
        }
        // The suite's TIMEOUT is for one name; dnsmasq's server=/name/ covers its subdomains too,
        // so the zone's own names below it are answered here (local=/sub/ is more specific).
        let timeouts = lines.filter { $0.hasPrefix("server=/") }.map { $0.dropFirst(8).prefix { $0 != "/" } }
        for (name, _) in zonedata {
            let name = name.lowercased().hasSuffix(".") ? String(name.lowercased().dropLast()) : name.lowercased()
            if Self.representable(name), timeouts.contains(where: { name.hasSuffix("." + $0) }) { lines.append("local=/\(name)/") }
        }
        lines.append("local=/#/") // every other name: NXDOMAIN, never forwarded

    }

    static func representable(_ name: String) -> Bool {
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        return !name.isEmpty && name.count <= 253 && labels.allSatisfy { !$0.isEmpty && $0.count <= 63 }
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_") }
    }

    static func isCNAME(_ name: String, in zonedata: [String: Any]) -> Bool {
        zonedata.contains { ($0.key.lowercased().hasSuffix(".") ? String($0.key.lowercased().dropLast()) : $0.key.lowercased()) == name
            && (($0.value as? [Any]) ?? []).contains { ($0 as? [String: Any])?["CNAME"] != nil } }
    }

    /// A dnsmasq quoted string: backslash, quote and control characters escaped.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for c in text {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out.append(c)
            }
        }
        return out + "\""
    }
}
