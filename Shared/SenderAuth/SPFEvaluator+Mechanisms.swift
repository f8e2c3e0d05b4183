/// The mechanisms of check_host() (RFC 7208 5): each says whether the client matches, or aborts
/// the check with temperror (DNS could not answer now) or permerror (a limit was passed).
extension SPFEvaluator {
    func matches(_ mechanism: SPFRecord.Mechanism, ip: IPAddress, domain: String, sender: String, helo: String,
                 expander: SPFMacroExpander, state: State) async throws -> Bool {
        func target(_ spec: SPFMacroString?) async -> String {
            guard let spec else { return domain }
            return await expander.domain(spec).lowercased()
        }
        switch mechanism {
        case .all:
            return true
        case let .ip4(network, prefix), let .ip6(network, prefix):
            return ip.isIn(network, prefix: prefix)
        case let .include(spec):
            let name = await target(spec)
            let result = try await evaluate(ip: ip, domain: name, sender: sender, helo: helo, state: state)
            switch result.kind {
            case .pass: return true
            case .fail, .softfail, .neutral: return false
            case .temperror, .permerror: throw Abort(result: result)
            case .none: throw Abort(result: SPFResult(.permerror, "include:\(DomainName.printable(name)): \(result.reason)"))
            }
        case let .a(spec, v4, v6):
            let found = try await addresses(await target(spec), v6: ip.isV6, void: true, state: state)
            return found.contains { ip.isIn($0, prefix: ip.isV6 ? v6 : v4) }
        case let .mx(spec, v4, v6):
            let name = await target(spec)
            let exchanges = try await lookup(name, state: state, void: true) { () async throws(DNSLookupError) -> [String] in try await resolver.mx(name) }
            guard exchanges.count <= limits.mxNames else {
                throw Abort(result: SPFResult(.permerror, "mx:\(DomainName.printable(name)) has \(exchanges.count) MX records (limit \(limits.mxNames))"))
            }
            for exchange in exchanges {
                let found = try await addresses(exchange, v6: ip.isV6, void: false, state: state)
                if found.contains(where: { ip.isIn($0, prefix: ip.isV6 ? v6 : v4) }) { return true }
            }
            return false
        case let .ptr(spec):
            let name = await target(spec)
            return await validatedNames(ip: ip).contains { $0 == name || $0.hasSuffix("." + name) }
        case let .exists(spec):
            return try await !addresses(await target(spec), v6: false, void: true, state: state).isEmpty
        }
    }

    /// A or AAAA addresses; none for a name that does not exist or is not a valid name.
    func addresses(_ name: String, v6: Bool, void: Bool, state: State) async throws -> [IPAddress] {
        try await lookup(name, state: state, void: void) { () async throws(DNSLookupError) -> [IPAddress] in try await resolver.addresses(name, v6: v6) }
    }

    /// One lookup: temporary failures abort with temperror; NXDOMAIN, an empty answer or a
    /// name that cannot be a DNS name are nothing (and a void lookup when counted).
    func lookup<T>(_ name: String, state: State, void: Bool,
                   _ query: () async throws(DNSLookupError) -> [T]) async throws -> [T] {
        var found: [T] = []
        if DomainName.isValid(name, multiLabel: false) {
            do {
                found = try await query()
            } catch .temporary(let why) {
                throw Abort(result: SPFResult(.temperror, "\(DomainName.printable(name)): \(why)"))
            } catch {
                found = []
            }
        }
        if void { try countVoid(found.count, state) }
        return found
    }

    /// The client's names that resolve back to its address (5.5), at most `ptrNames` tried;
    /// any DNS trouble just leaves a name out.
    func validatedNames(ip: IPAddress) async -> [String] {
        guard let names = try? await resolver.ptr(ip) else { return [] }
        var validated: [String] = []
        for var name in names.prefix(limits.ptrNames) {
            name = name.lowercased()
            if name.hasSuffix(".") { name.removeLast() }
            guard DomainName.isValid(name, multiLabel: false) else { continue }
            if let addresses = try? await resolver.addresses(name, v6: ip.isV6), addresses.contains(ip) {
                validated.append(name)
            }
        }
        return validated
    }

    /// %{p} (7.3): a validated name, the domain itself or one of its subdomains first.
    func validatedName(ip: IPAddress, domain: String, state: State) async -> String {
        if let name = state.validatedName { return name }
        let names = await validatedNames(ip: ip)
        let name = names.first { $0 == domain } ?? names.first { $0.hasSuffix("." + domain) } ?? names.first ?? "unknown"
        state.validatedName = name
        return name
    }
}
