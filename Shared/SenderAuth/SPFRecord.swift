/// One SPF record (RFC 7208 4.5, 12), parsed whole before anything is evaluated: a syntax error
/// anywhere is permerror even in a term that would never be reached (4.6).
///
///     record    = version terms *SP
///     version   = "v=spf1"
///     terms     = *( 1*SP ( directive / modifier ) )
///     directive = [ qualifier ] mechanism
///     qualifier = "+" / "-" / "?" / "~"
///     mechanism = ( all / include / a / mx / ptr / ip4 / ip6 / exists )
///     modifier  = redirect / explanation / unknown-modifier
///     unknown-modifier = name "=" macro-string
///     name      = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
public struct SPFRecord: Equatable, Sendable {
    public enum Qualifier: String, Sendable {
        case pass = "+", fail = "-", softfail = "~", neutral = "?"
    }

    public enum Mechanism: Equatable, Sendable {
        case all
        case include(SPFMacroString)
        /// The domain-spec (nil: the current domain) and the IPv4 and IPv6 prefix lengths.
        case a(SPFMacroString?, v4: Int, v6: Int)
        case mx(SPFMacroString?, v4: Int, v6: Int)
        case ptr(SPFMacroString?)
        case ip4(IPAddress, prefix: Int)
        case ip6(IPAddress, prefix: Int)
        case exists(SPFMacroString)

        /// include, a, mx, ptr and exists query DNS: they count towards the limit of 10 (4.6.4).
        public var queriesDNS: Bool {
            switch self {
            case .all, .ip4, .ip6: false
            default: true
            }
        }
    }

    public struct Directive: Equatable, Sendable, CustomStringConvertible {
        public var qualifier: Qualifier
        public var mechanism: Mechanism

        /// The directive as a record writes it (the default qualifier left out).
        public var description: String {
            let q = qualifier == .pass ? "" : qualifier.rawValue
            func cidr(_ v4: Int, _ v6: Int) -> String { (v4 == 32 ? "" : "/\(v4)") + (v6 == 128 ? "" : "//\(v6)") }
            switch mechanism {
            case .all: return q + "all"
            case let .include(spec): return q + "include:" + spec.description
            case let .a(spec, v4, v6): return q + "a" + (spec.map { ":" + $0.description } ?? "") + cidr(v4, v6)
            case let .mx(spec, v4, v6): return q + "mx" + (spec.map { ":" + $0.description } ?? "") + cidr(v4, v6)
            case let .ptr(spec): return q + "ptr" + (spec.map { ":" + $0.description } ?? "")
            case let .ip4(address, prefix): return q + "ip4:\(address)/\(prefix)"
            case let .ip6(address, prefix): return q + "ip6:\(address)/\(prefix)"
            case let .exists(spec): return q + "exists:" + spec.description
            }
        }
    }

    /// The record written back (unknown modifiers left out).
    public var text: String {
        var terms = ["v=spf1"] + directives.map(\.description)
        if let redirect { terms.append("redirect=" + redirect.description) }
        if let explanation { terms.append("exp=" + explanation.description) }
        return terms.joined(separator: " ")
    }

    public var directives: [Directive] = []
    public var redirect: SPFMacroString?
    public var explanation: SPFMacroString?

    public struct SyntaxError: Error, Equatable, Sendable {
        public var reason: String
    }

    /// Records longer than this are refused as permerror before parsing (a DNS answer can carry
    /// 64 KiB of TXT; real records are a few hundred octets, and 10 includes bound the rest).
    public static let maxLength = 4096

    /// Whether a TXT record is an SPF record: "v=spf1" alone or followed by a space (4.5).
    public static func isSPF(_ text: String) -> Bool {
        let head = text.utf8.prefix(7)
        guard head.count >= 6, String(decoding: head.prefix(6), as: UTF8.self).lowercased() == "v=spf1" else { return false }
        return head.count == 6 || head.last == UInt8(ascii: " ")
    }

    public static func parse(_ text: String) throws(SyntaxError) -> SPFRecord {
        guard text.utf8.count <= maxLength else { throw SyntaxError(reason: "record longer than \(maxLength) octets") }
        guard isSPF(text) else { throw SyntaxError(reason: "not an SPF record") }
        var record = SPFRecord()
        var sawAll = false
        for term in text.dropFirst(6).split(separator: " ", omittingEmptySubsequences: true) {
            do {
                if let directive = try directive(term) {
                    if directive.mechanism == .all { sawAll = true }
                    record.directives.append(directive)
                    continue
                }
                try record.modifier(term)
            } catch let error as SyntaxError {
                throw error
            } catch let error as SPFMacroString.SyntaxError {
                throw SyntaxError(reason: error.reason)
            } catch {
                throw SyntaxError(reason: "\(error)")
            }
        }
        // 6.1: redirect is ignored when the record has an "all" anywhere.
        if sawAll { record.redirect = nil }
        return record
    }

    static func directive(_ term: Substring) throws -> Directive? {
        var rest = term
        var qualifier = Qualifier.pass
        if let first = rest.first, let q = Qualifier(rawValue: String(first)) {
            qualifier = q
            rest = rest.dropFirst()
        }
        let name = rest.prefix { $0.isASCII && ($0.isLetter || $0.isNumber) }.lowercased()
        let after = rest.dropFirst(name.count)
        let known = ["all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"]
        guard known.contains(name), after.first != "=" else {
            if qualifier != .pass || term.first == "+" { throw SyntaxError(reason: "unknown mechanism \(SPFMacroString.quoted(term))") }
            return nil
        }
        guard after.isEmpty || after.first == ":" || after.first == "/" else {
            throw SyntaxError(reason: "unknown mechanism \(SPFMacroString.quoted(term))")
        }
        return Directive(qualifier: qualifier, mechanism: try mechanism(name, after, term: term))
    }

    static func mechanism(_ name: String, _ after: Substring, term: Substring) throws -> Mechanism {
        let bad = SyntaxError(reason: "invalid \(name) mechanism \(SPFMacroString.quoted(term))")
        let colonArgument: Substring? = after.first == ":" ? after.dropFirst() : nil
        switch name {
        case "all":
            guard after.isEmpty else { throw bad }
            return .all
        case "include", "exists":
            guard let argument = colonArgument else { throw bad }
            let spec = try domainSpec(argument, term: term)
            return name == "include" ? .include(spec) : .exists(spec)
        case "ptr":
            guard after.isEmpty || colonArgument != nil else { throw bad }
            return .ptr(try colonArgument.map { try domainSpec($0, term: term) })
        case "a", "mx":
            let (body, v4, v6) = try dualCIDR(colonArgument ?? after, term: term)
            guard colonArgument != nil || body.isEmpty else { throw bad }
            let spec = try colonArgument.map { _ in try domainSpec(body, term: term) }
            return name == "a" ? .a(spec, v4: v4, v6: v6) : .mx(spec, v4: v4, v6: v6)
        case "ip4", "ip6":
            guard let argument = colonArgument else { throw bad }
            let v6 = name == "ip6"
            var network = argument
            var prefixText: Substring?
            if let slash = argument.firstIndex(of: "/") {
                network = argument[..<slash]
                prefixText = argument[argument.index(after: slash)...]
            }
            guard v6 ? network.contains(":") : !network.contains(":"), let address = IPAddress(network), address.isV6 == v6 else { throw bad }
            let prefix = try prefixText.map { try cidrLength($0, max: v6 ? 128 : 32, term: term) } ?? (v6 ? 128 : 32)
            return v6 ? .ip6(address, prefix: prefix) : .ip4(address, prefix: prefix)
        default:
            throw bad
        }
    }

    /// Splits `domain/24//64`, `domain//64`, `/24` into the domain part and the two lengths.
    static func dualCIDR(_ text: Substring, term: Substring) throws -> (Substring, Int, Int) {
        var body = text
        var v4 = 32, v6 = 128
        if let range = body.ranges(of: "//").last, body[range.upperBound...].allSatisfy(\.isNumber) {
            v6 = try cidrLength(body[range.upperBound...], max: 128, term: term)
            body = body[..<range.lowerBound]
        }
        if let slash = body.lastIndex(of: "/"), body[body.index(after: slash)...].allSatisfy(\.isNumber) {
            v4 = try cidrLength(body[body.index(after: slash)...], max: 32, term: term)
            body = body[..<slash]
        }
        return (body, v4, v6)
    }

    /// 1 to 3 digits, no leading zero, at most `max` (ip4-cidr-length, ip6-cidr-length).
    static func cidrLength(_ digits: Substring, max: Int, term: Substring) throws -> Int {
        guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              digits == "0" || digits.first != "0", let value = Int(digits), value <= max else {
            throw SyntaxError(reason: "invalid prefix length in \(SPFMacroString.quoted(term))")
        }
        return value
    }

    static func domainSpec(_ text: Substring, term: Substring) throws -> SPFMacroString {
        let spec = try SPFMacroString.parse(text)
        guard !text.isEmpty, spec.hasDomainEnd else { throw SyntaxError(reason: "invalid domain in \(SPFMacroString.quoted(term))") }
        return spec
    }

    mutating func modifier(_ term: Substring) throws {
        guard let equals = term.firstIndex(of: "=") else { throw SyntaxError(reason: "unknown term \(SPFMacroString.quoted(term))") }
        let name = term[..<equals]
        let value = term[term.index(after: equals)...]
        guard let first = name.first, first.isASCII, first.isLetter,
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
            throw SyntaxError(reason: "unknown term \(SPFMacroString.quoted(term))")
        }
        switch name.lowercased() {
        case "redirect":
            guard redirect == nil else { throw SyntaxError(reason: "more than one redirect") }
            redirect = try Self.domainSpec(value, term: term)
        case "exp":
            guard explanation == nil else { throw SyntaxError(reason: "more than one exp") }
            explanation = try Self.domainSpec(value, term: term)
        default:
            _ = try SPFMacroString.parse(value) // unknown modifiers are ignored, but must parse
        }
    }
}
