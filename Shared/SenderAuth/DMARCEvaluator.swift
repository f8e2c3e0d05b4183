/// DMARC (RFC 7489 6.6): the From domain's policy, found at _dmarc.<domain> or at its
/// organizational domain's, and whether SPF or a DKIM signature passed for an aligned domain.
public struct DMARCEvaluator: Sendable {
    public let resolver: any TXTResolver
    public let suffixes: PublicSuffixList

    public init(resolver: any TXTResolver, suffixes: PublicSuffixList) {
        self.resolver = resolver
        self.suffixes = suffixes
    }

    /// The policy record for a From domain: nil when there is none (or more than one, or none
    /// that parses); throws the temporary failure when DNS cannot answer now.
    public func discover(_ fromDomain: String) async throws(DNSLookupError) -> (record: DMARCRecord, at: String)? {
        if let record = try await record(at: fromDomain) { return (record, fromDomain) }
        let organizational = suffixes.organizationalDomain(fromDomain)
        guard organizational != fromDomain, let record = try await record(at: organizational) else { return nil }
        return (record, organizational)
    }

    func record(at domain: String) async throws(DNSLookupError) -> DMARCRecord? {
        let name = "_dmarc." + domain
        guard DomainName.isValid(name, multiLabel: true) else { return nil }
        let texts: [String]
        do {
            texts = try await resolver.txt(name).filter(DMARCRecord.isDMARC)
        } catch .temporary(let why) {
            throw .temporary(why)
        } catch {
            return nil
        }
        guard texts.count == 1 else { return nil }
        return try? DMARCRecord.parse(texts[0])
    }

    /// Whether two domains are aligned: the same (strict), or the same organizational domain
    /// (relaxed).
    public func aligned(_ a: String, _ b: String, _ mode: DMARCRecord.Alignment) -> Bool {
        let (a, b) = (Self.normalized(a), Self.normalized(b))
        if a == b { return !a.isEmpty }
        return mode == .relaxed && suffixes.organizationalDomain(a) == suffixes.organizationalDomain(b)
    }

    static func normalized(_ domain: String) -> String {
        var d = domain.lowercased()
        if d.hasSuffix(".") { d.removeLast() }
        return d
    }

    /// The DMARC result for a message whose From: is `from`, with the SPF check of its envelope
    /// (nil when SPF was not checked) and the results of its DKIM signatures.
    public func evaluate(from: FromDomain, spf: SPFCheck?, dkim: [DKIMOutcome]) async -> DMARCResult {
        guard case let .domain(domain) = from else {
            return DMARCResult(kind: .permerror, fromDomain: "", reason: from.problem)
        }
        let found: (record: DMARCRecord, at: String)?
        do {
            found = try await discover(domain)
        } catch {
            return DMARCResult(kind: .temperror, fromDomain: domain, reason: "_dmarc lookup: \(error)")
        }
        guard let (record, at) = found.map({ ($0.record, $0.at) }) else {
            return DMARCResult(kind: .none, fromDomain: domain, reason: "no DMARC record for \(domain)")
        }
        var result = DMARCResult(kind: .fail, fromDomain: domain, reason: "")
        result.record = record
        result.policy = at != domain ? (record.subdomainPolicy ?? record.policy) : record.policy
        if let spf, spf.result.kind == .pass, aligned(spf.domain, domain, record.spfAlignment) {
            result.spfAligned = true
        }
        if let signature = dkim.first(where: { $0.passed && aligned($0.domain, domain, record.dkimAlignment) }) {
            result.dkimAligned = signature.domain
        }
        if result.spfAligned || result.dkimAligned != nil {
            result.kind = .pass
            result.reason = result.spfAligned ? "SPF aligned" : "DKIM aligned (d=\(result.dkimAligned!))"
        } else {
            result.reason = "neither SPF nor DKIM passed for a domain aligned with \(domain)"
        }
        return result
    }
}

/// One DKIM signature's result, as DMARC needs it: the signing domain (d=), its selector, and
/// whether it verified.
public struct DKIMOutcome: Equatable, Sendable {
    public var domain: String
    public var selector: String
    /// pass, fail, neutral, temperror, permerror, policy (RFC 8601's dkim= values).
    public var result: String
    public var passed: Bool { result == "pass" }

    public init(domain: String, selector: String, result: String) {
        self.domain = domain
        self.selector = selector
        self.result = result
    }
}

public struct DMARCResult: Equatable, Sendable {
    public enum Kind: String, Sendable {
        case none, pass, fail, temperror, permerror
    }

    public var kind: Kind
    public var fromDomain: String
    public var reason: String
    public var record: DMARCRecord?
    /// The policy that applies (p=, or sp= for a subdomain's mail under its organization's record).
    public var policy: DMARCRecord.Policy?
    public var spfAligned = false
    /// The d= of the aligned DKIM signature that passed.
    public var dkimAligned: String?

    public init(kind: Kind, fromDomain: String, reason: String) {
        self.kind = kind
        self.fromDomain = fromDomain
        self.reason = reason
    }
}
