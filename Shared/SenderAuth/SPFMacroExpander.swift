/// Expands SPF macro-strings (RFC 7208 7.3, 7.4) for one check: the sender, the current domain,
/// the client's address, HELO, and (for %{p}) a validated client name looked up on demand.
public struct SPFMacroExpander: Sendable {
    public var sender: String
    public var domain: String
    public var ip: IPAddress
    public var helo: String
    /// %{r}: the receiving host (exp= only).
    public var receiver: String
    /// %{t}: seconds since the epoch (exp= only), given so tests stay deterministic.
    public var timestamp: Int64
    /// %{p}: asked once, only when a record uses it (it costs DNS lookups).
    public var validatedName: @Sendable () async -> String

    /// An expanded domain longer than this is cut from the left, label by label (7.3).
    public static let maxDomainLength = 253

    public init(sender: String, domain: String, ip: IPAddress, helo: String, receiver: String = "unknown",
                timestamp: Int64 = 0, validatedName: @escaping @Sendable () async -> String = { "unknown" }) {
        self.sender = sender
        self.domain = domain
        self.ip = ip
        self.helo = helo
        self.receiver = receiver
        self.timestamp = timestamp
        self.validatedName = validatedName
    }

    var localPart: String {
        guard let at = sender.lastIndex(of: "@") else { return "postmaster" }
        let local = sender[..<at]
        return local.isEmpty ? "postmaster" : String(local)
    }

    var senderDomain: String {
        guard let at = sender.lastIndex(of: "@") else { return sender }
        return String(sender[sender.index(after: at)...])
    }

    /// The expansion of a domain-spec, cut to 253 octets and without a final dot.
    public func domain(_ spec: SPFMacroString) async -> String {
        Self.cut(await expand(spec))
    }

    /// A name without its final dot, cut from the left to 253 octets. An expansion that ends in
    /// an empty label ("in-addr..") keeps both dots: it is no name, and taking one off would
    /// leave a valid name written with its final dot.
    public static func cut(_ expanded: String) -> String {
        var name = expanded
        if name.hasSuffix("."), !name.hasSuffix("..") { name.removeLast() }
        while name.utf8.count > maxDomainLength, let dot = name.firstIndex(of: ".") {
            name = String(name[name.index(after: dot)...])
        }
        if name.utf8.count > maxDomainLength { name = String(decoding: name.utf8.suffix(maxDomainLength), as: UTF8.self) }
        return name
    }

    public func expand(_ string: SPFMacroString) async -> String {
        let usesP = string.parts.contains { if case .macro("p", _, _, _, _) = $0 { true } else { false } }
        return expand(string, validatedName: usesP ? await validatedName() : "unknown")
    }

    /// The expansion with %{p} given.
    public func expand(_ string: SPFMacroString, validatedName: String) -> String {
        var out = ""
        for part in string.parts {
            switch part {
            case let .literal(text):
                out += text
            case let .macro(letter, keep, reverse, delimiters, escape):
                let value = letter == "p" ? validatedName : self.value(letter)
                var labels = value.split(whereSeparator: { (delimiters.isEmpty ? "." : delimiters).contains($0) }).map(String.init)
                if value.isEmpty { labels = [] }
                if reverse { labels.reverse() }
                if let keep, labels.count > keep { labels = Array(labels.suffix(keep)) }
                let joined = labels.joined(separator: ".")
                out += escape ? Self.urlEscape(joined) : joined
            }
            // A hostile record can ask for %{s} a hundred times: stop growing past any use.
            if out.utf8.count > 4 * SPFRecord.maxLength { break }
        }
        return out
    }

    func value(_ letter: Character) -> String {
        switch letter {
        case "s": sender
        case "l": localPart
        case "o": senderDomain
        case "d": domain
        case "i": ip.macroText
        case "v": ip.isV6 ? "ip6" : "in-addr"
        case "h": helo
        case "c": ip.description
        case "r": receiver
        case "t": String(timestamp)
        default: ""
        }
    }

    /// RFC 3986 escaping of everything but unreserved characters (7.3).
    static func urlEscape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if byte < 0x80, c.isLetter || c.isNumber || "-._~".contains(c) {
                out.append(c)
            } else {
                out += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return out
    }
}
