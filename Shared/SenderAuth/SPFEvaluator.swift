/// check_host() (RFC 7208 4): SPF for one client address and one identity, with DNS through an
/// injected resolver and every limit of the RFC, so a hostile record cannot make us a DNS
/// amplifier: 10 DNS-querying terms (include, a, mx, ptr, exists, redirect) per check across
/// every include, 2 void lookups, 10 MX names per mx, 10 PTR names per ptr or %{p}.
public struct SPFEvaluator: Sendable {
    public struct Limits: Sendable {
        public var dnsTerms = 10
        public var voidLookups = 2
        public var mxNames = 10
        public var ptrNames = 10
        public init() {}
    }

    public let resolver: any SenderAuthResolver
    public var limits = Limits()
    /// %{r}: the host name we receive as.
    public var receiver: String

    public init(resolver: any SenderAuthResolver, receiver: String = "unknown") {
        self.resolver = resolver
        self.receiver = receiver
    }

    /// The check a session makes: MAIL FROM's domain, or HELO's (postmaster@helo) for the
    /// null sender. `ip` may be IPv4-mapped IPv6.
    public func check(ip: IPAddress, helo: String, sender: String) async -> SPFCheck {
        let helo = helo.lowercased()
        if sender.isEmpty {
            let result = await checkHost(ip: ip, domain: helo, sender: "postmaster@\(helo)", helo: helo)
            return SPFCheck(identity: .helo, sender: "postmaster@\(helo)", domain: helo, result: result)
        }
        let domain = sender.lastIndex(of: "@").map { String(sender[sender.index(after: $0)...]) } ?? helo
        let address = sender.contains("@") ? sender : "postmaster@\(sender)"
        let result = await checkHost(ip: ip, domain: domain.lowercased(), sender: address, helo: helo)
        return SPFCheck(identity: .mailfrom, sender: address, domain: domain.lowercased(), result: result)
    }

    /// The counters one check shares across its includes and redirects.
    final class State: @unchecked Sendable {
        // Used by one check's task only.
        var terms = 0
        var voids = 0
        var validatedName: String?
    }

    struct Abort: Error {
        var result: SPFResult
    }

    public func checkHost(ip: IPAddress, domain: String, sender: String, helo: String) async -> SPFResult {
        let state = State()
        do {
            return try await evaluate(ip: ip.unmapped, domain: domain, sender: sender, helo: helo, state: state)
        } catch let abort as Abort {
            return abort.result
        } catch {
            return SPFResult(.temperror, "\(error)")
        }
    }

    func evaluate(ip: IPAddress, domain: String, sender: String, helo: String, state: State) async throws -> SPFResult {
        var domain = domain.lowercased()
        if domain.hasSuffix(".") { domain.removeLast() }
        guard DomainName.isValid(domain, multiLabel: true) else { return SPFResult(.none, "no valid domain: \(DomainName.printable(domain))") }
        let records: [String]
        do {
            records = try await resolver.txt(domain).filter(SPFRecord.isSPF)
        } catch .nxdomain {
            return SPFResult(.none, "\(domain) does not exist")
        } catch .temporary(let why) {
            return SPFResult(.temperror, "TXT \(domain): \(why)")
        } catch {
            records = []
        }
        guard !records.isEmpty else { return SPFResult(.none, "no SPF record at \(domain)") }
        guard records.count == 1 else { return SPFResult(.permerror, "\(records.count) SPF records at \(domain)") }
        let record: SPFRecord
        do {
            record = try SPFRecord.parse(records[0])
        } catch {
            return SPFResult(.permerror, "\(domain): \(error.reason)")
        }
        let current = domain
        let expander = SPFMacroExpander(sender: sender, domain: current, ip: ip, helo: helo, receiver: receiver) { [self] in
            await validatedName(ip: ip, domain: current, state: state)
        }
        for directive in record.directives {
            if directive.mechanism.queriesDNS { try countTerm(state) }
            if try await matches(directive.mechanism, ip: ip, domain: domain, sender: sender, helo: helo, expander: expander, state: state) {
                return SPFResult(Self.kind(directive.qualifier), "\(domain): matched \(directive)")
            }
        }
        if let redirect = record.redirect {
            try countTerm(state)
            let target = await expander.domain(redirect)
            let result = try await evaluate(ip: ip, domain: target, sender: sender, helo: helo, state: state)
            if result.kind == .none { return SPFResult(.permerror, "redirect to \(DomainName.printable(target)): \(result.reason)") }
            return result
        }
        return SPFResult(.neutral, "\(domain): no mechanism matched")
    }

    func countTerm(_ state: State) throws {
        state.terms += 1
        if state.terms > limits.dnsTerms { throw Abort(result: SPFResult(.permerror, "more than \(limits.dnsTerms) DNS lookups")) }
    }

    /// A lookup that found nothing (NXDOMAIN or no records) counts towards the void limit.
    func countVoid(_ found: Int, _ state: State) throws {
        guard found == 0 else { return }
        state.voids += 1
        if state.voids > limits.voidLookups { throw Abort(result: SPFResult(.permerror, "more than \(limits.voidLookups) void lookups")) }
    }

    static func kind(_ qualifier: SPFRecord.Qualifier) -> SPFResult.Kind {
        switch qualifier {
        case .pass: .pass
        case .fail: .fail
        case .softfail: .softfail
        case .neutral: .neutral
        }
    }

}
