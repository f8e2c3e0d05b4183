import SenderAuth

/// SPF records (`SPFRecord.parse`): a record that parses is SPF, every domain-spec in it ends as
/// RFC 7208 7.1 wants, and written back it parses to the same record.
func fuzzSPFRecord(_ bytes: [UInt8]) {
    let text = String(decoding: bytes.prefix(SPFRecord.maxLength + 16), as: UTF8.self)
    guard let record = try? SPFRecord.parse(text) else { return }
    check(SPFRecord.isSPF(text), "parsed a record that is not v=spf1: \(text.debugDescription)")
    var specs: [SPFMacroString] = [record.redirect, record.explanation].compactMap { $0 }
    for directive in record.directives {
        switch directive.mechanism {
        case let .include(s), let .exists(s): specs.append(s)
        case let .a(s?, _, _), let .mx(s?, _, _), let .ptr(s?): specs.append(s)
        case let .ip4(address, prefix): check(!address.isV6 && prefix <= 32, "ip4 \(address)/\(prefix)")
        case let .ip6(address, prefix): check(address.isV6 && prefix <= 128, "ip6 \(address)/\(prefix)")
        default: break
        }
    }
    for spec in specs {
        check(spec.hasDomainEnd, "domain-spec without a domain end: \(spec.description.debugDescription)")
        check(spec.description.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f }, "blank or control in \(spec.description.debugDescription)")
    }
    let again = try? SPFRecord.parse(record.text)
    check(again == record, "\(record.text.debugDescription) does not parse back to the same record")
}

/// SPF macro expansion (`SPFMacroString`, `SPFMacroExpander`): the first octet chooses exp= or
/// domain-spec grammar; an expansion holds no control character, stays bounded, and a domain
/// cut for lookup is at most 253 octets, and one that still ends in a dot is no valid name.
func fuzzSPFMacro(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let explanation = input.bool()
    let text = String(decoding: input.bytes.prefix(2048), as: UTF8.self)
    guard let spec = try? SPFMacroString.parse(Substring(text), explanation: explanation) else { return }
    let expander = SPFMacroExpander(sender: "strong-bad@email.example.com", domain: "email.example.com",
                                    ip: IPAddress(explanation ? "2001:db8::cb01" : "192.0.2.3")!, helo: "mx.example.org",
                                    receiver: "receiver.example", timestamp: 1_700_000_000)
    let out = expander.expand(spec, validatedName: "mail.example.com")
    check(out.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7f }, "control character in the expansion \(out.debugDescription)")
    check(out.utf8.count <= 4 * SPFRecord.maxLength + 2048, "expansion of \(out.utf8.count) octets")
    let name = SPFMacroExpander.cut(out)
    check(name.utf8.count <= SPFMacroExpander.maxDomainLength, "domain \(name.debugDescription) not cut")
    check(!name.hasSuffix(".") || !DomainName.isValid(name, multiLabel: false), "domain \(name.debugDescription) keeps a final dot")
}

/// DMARC records (`DMARCRecord.parse`), the From: domain (`FromDomain`) and the inbound header
/// filter (`InboundHeaderFilter`) on the same octets: a record that parses claims DMARC1 and has
/// pct 0-100; a From: domain is a valid multi-label name in lower case; the filter gives the same
/// octets whole and drip-fed, never more than it was given, and nothing it gives is a field with
/// our authserv-id.
func fuzzDMARCRecord(_ bytes: [UInt8]) {
    let text = String(decoding: bytes.prefix(DMARCRecord.maxLength + 16), as: UTF8.self)
    if let record = try? DMARCRecord.parse(text) {
        check(DMARCRecord.isDMARC(text), "parsed a record that is not DMARC1")
        check((0...100).contains(record.percent), "pct=\(record.percent)")
    }
    if case let .domain(domain) = FromDomain(fields: [text]) {
        check(DomainName.isValid(domain, multiLabel: true) && domain == domain.lowercased(), "From: domain \(domain.debugDescription)")
    }
    var whole = InboundHeaderFilter(authservID: "mx.example.org")
    let out = whole.feed(bytes) + whole.finish()
    var drip = InboundHeaderFilter(authservID: "mx.example.org")
    var dripped: [UInt8] = []
    var step = 1
    var index = 0
    while index < bytes.count {
        let end = min(bytes.count, index + step)
        dripped += drip.feed(bytes[index..<end])
        index = end
        step = step % 7 + 1
    }
    dripped += drip.finish()
    check(dripped == out, "drip-fed output differs from the whole")
    check(out.count <= bytes.count, "the filter added octets")
    var again = InboundHeaderFilter(authservID: "mx.example.org")
    _ = again.feed(out) + again.finish()
    check(again.removed == 0 || bytes.count >= InboundHeaderFilter.maxField, "the filter passed on a field it removes")
}
