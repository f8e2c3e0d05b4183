import Foundation

/// A zone of the RFC 7208 test suite (its `zonedata`) as a dnsmasq configuration file, the way
/// the suite's own driver serves it: type SPF records are served as TXT when the name has no TXT
/// (type 99 is not asked for since RFC 7208), TIMEOUT names are forwarded to a silent port, so
/// they time out for real. A zone that cannot be written for dnsmasq says why.
struct SPFTestZone {
    var lines: [String] = []
    var unsupported: String?

    init(_ zonedata: [String: Any]) {
        var tlds: Set<String> = []
        for (rawName, rawRecords) in zonedata.sorted(by: { $0.key < $1.key }) {
            let name = rawName.lowercased().hasSuffix(".") ? String(rawName.lowercased().dropLast()) : rawName.lowercased()
            guard Self.representable(name) else { unsupported = "name dnsmasq cannot serve: \(name)"; continue }
            if let tld = name.split(separator: ".").last { tlds.insert(String(tld)) }
            let records = rawRecords as? [Any] ?? []
            let hasTXT = records.contains { ($0 as? [String: Any])?["TXT"] != nil }
            for record in records {
                if let word = record as? String {
                    if word == "TIMEOUT" { lines.append("server=/\(name)/127.0.0.1#9") } else { unsupported = "record \(word)" }
                    continue
                }
                guard let fields = record as? [String: Any], let (type, value) = fields.first else { continue }
                switch type {
                case "TXT", "SPF":
                    if type == "SPF" && hasTXT { continue }
                    if let text = value as? String, text == "NONE" { continue }
                    let strings = (value as? [Any])?.map { "\($0)" } ?? ["\(value)"]
                    guard strings.allSatisfy({ $0.allSatisfy { $0.isASCII } }) else { unsupported = "non-ASCII TXT at \(name)"; continue }
                    lines.append("txt-record=\(name)," + strings.map(Self.quoted).joined(separator: ","))
                case "A", "AAAA":
                    lines.append("host-record=\(name),\(value)")
                case "MX":
                    guard let pair = value as? [Any], pair.count == 2, let target = pair[1] as? String, Self.representable(target.lowercased()) else {
                        unsupported = "MX at \(name)"; continue
                    }
                    lines.append("mx-host=\(name),\(target.lowercased()),\(pair[0])")
                case "PTR":
                    lines.append("ptr-record=\(name),\(value)")
                case "CNAME":
                    lines.append("cname=\(name),\(value)")
                default:
                    unsupported = "record type \(type)"
                }
            }
        }
        for tld in tlds.sorted() where !["arpa"].contains(tld) { lines.append("local=/\(tld)/") }
        lines += ["local=/in-addr.arpa/", "local=/ip6.arpa/"]
    }

    static func representable(_ name: String) -> Bool {
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        return !name.isEmpty && name.count <= 253 && labels.allSatisfy { !$0.isEmpty && $0.count <= 63 }
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_") }
    }

    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
