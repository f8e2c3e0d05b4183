import RelayPolicyService

/// Whether `text` is D.S.N with D 2, 4 or 5 and one to three ASCII digits in each part.
func isEnhancedCode(_ text: String) -> Bool {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    return parts.count == 3 && ["2", "4", "5"].contains(parts[0])
        && parts.allSatisfy { (1...3).contains($0.utf8.count) && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
}

/// The access map: right-hand sides (`AccessAction`) and the keys tried for a client, a sender
/// or a recipient domain. Properties: an error reply has a 4xx or 5xx code, an enhanced code of
/// the D.S.N form when there is one, a text without surrounding blanks and without CR or LF
/// unless the value had them; the first key with a known action decides, SKIP ends its group.
func fuzzAccess(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let value = input.string()
    let name = input.string()
    let address = input.string()
    let action = AccessAction(value)
    if case let .error(code, enhanced, text)? = action {
        check((400...599).contains(code), "access reply code \(code)")
        check(enhanced.map(isEnhancedCode) ?? true, "enhanced code \(enhanced!.debugDescription)")
        check(text.first != " " && text.first != "\t" && text.last != " " && text.last != "\t", "text with surrounding blanks")
        check(!containsCRorLF(text) || containsCRorLF(value), "CR or LF in the reply text")
    }
    let groups = AccessMap.connectKeys(name: name, address: address)
    let keys = groups.flatMap { $0 }
    guard !keys.isEmpty else { return }
    let hit = keys[input.int(below: keys.count)]
    let map = AccessMap { $0 == hit ? value : nil }
    let match = try! map.decide(groups)
    if let action, action != .skip {
        check(match == AccessMap.Match(key: hit, action: action), "\(hit) = \(value.debugDescription) did not decide: \(String(describing: match))")
    } else {
        check(match == nil, "a decision without an action")
    }
    for tag in [AccessMap.Tag.from, .to] {
        _ = AccessMap.domainKeys(name, tag: tag)
        _ = AccessMap.addressKeys(address, tag: tag)
    }
}

/// virtusertable: a value from the input under one of the keys tried for a user@domain from
/// the input. Properties: the key found is one sendmail's order names (the user's local part
/// and domain in it); an error has a 4xx or 5xx code and a D.S.N enhanced code of the same
/// class and a text; a forward has an `@`, a local user none; no CR or LF unless the value or
/// the user had them.
func fuzzVirtusertable(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let user = input.string()
    let domain = input.string()
    let value = input.string()
    let pick = input.int(below: 5)
    final class KeyLog: @unchecked Sendable { var keys: [String] = [] } // one thread
    let log = KeyLog()
    let table = VirtualUserTable { key in
        log.keys.append(key)
        return log.keys.count - 1 == pick ? value : nil
    }
    let match = try! table.resolve(user: user, domain: domain)
    let keys = log.keys
    guard let match else {
        check(keys.count <= pick, "\(keys.count) keys tried, none matched")
        return
    }
    check(match.key == keys.last && keys.count == pick + 1, "the match is not the key found")
    // Compared as octets, as the map compares keys: as Characters, a key ending in a user
    // part whose last scalar is a prepended mark (U+0602) fused with the "@" and looked foreign.
    let lowered = domain.lowercased()
    let suffix = Array(("@" + (lowered.hasSuffix(".") ? String(lowered.dropLast()) : lowered)).utf8)
    check(Array(match.key.utf8).suffix(suffix.count).elementsEqual(suffix), "key \(match.key.debugDescription) of another domain")
    switch match.result {
    case let .error(code, enhanced, text):
        check((400...599).contains(code), "virtusertable reply code \(code)")
        check(isEnhancedCode(enhanced), "enhanced code \(enhanced.debugDescription)")
        check(!text.isEmpty, "an error without text")
        check(!containsCRorLF(text) || containsCRorLF(value) || containsCRorLF(user), "CR or LF in the reply text")
    case let .forward(address):
        check(address.contains("@"), "a forward without @")
    case let .local(name):
        check(!name.contains("@"), "a local user with @")
    }
}

/// mailertable: a value from the input as the route of a domain from the input. Properties:
/// the keys tried are the domain, its parents with a leading dot, then `.`; an SMTP route has a
/// host and a port from 1 to 65535; an error has a 4xx or 5xx code and a D.S.N enhanced code;
/// a value that is no route is an error, never a silent default.
func fuzzMailertable(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let domain = input.string()
    let value = input.string()
    let keys = MailerTable.keys(for: domain)
    check(keys.last == "." && !keys.isEmpty, "keys without the default")
    check(Set(keys).count == keys.count || keys.contains(""), "a key tried twice: \(keys)")
    let hit = keys[input.int(below: keys.count)]
    let table = MailerTable { $0 == hit ? value : nil }
    let match: MailerTable.Match?
    do {
        match = try table.route(domain)
    } catch {
        return // a bad route: reported to the administrator
    }
    guard let match else { violated("\(hit) = \(value.debugDescription) was not found") }
    check(match.key == hit, "the match is not the key found")
    switch match.route {
    case let .smtp(host, _, port):
        check(!host.isEmpty, "an SMTP route without a host")
        check(port.map { (1...65535).contains($0) } ?? true, "port \(String(describing: port))")
    case let .error(code, enhanced, _):
        check((400...599).contains(code), "mailertable reply code \(code)")
        check(isEnhancedCode(enhanced), "enhanced code \(enhanced.debugDescription)")
    case .local:
        break
    }
}
