import MailstackAliases

/// The aliases file, its target lists, :include: contents and the expander over what was
/// parsed; the input is read as all three. Properties: every name is lower case, not empty,
/// without control characters, white space, `@` or `:`, and once; every entry has a target and
/// its stored value (what aliases.db holds) parses to the same targets; targets written back
/// (`AliasTarget.description`) parse to the same targets; errors name lines of the input; the
/// expansion of every name ends, is never empty, stays within its limits, lists each delivery
/// once, and delivers only to mailboxes `isMailbox` accepted.
func fuzzAliases(_ bytes: [UInt8]) {
    let lineCount = bytes.filter { $0 == 0x0A }.count + 1
    func checkLines(_ error: Error) {
        guard let error = error as? AliasesError else { violated("an error that is no AliasesError: \(error)") }
        for case let .syntax(_, line, reason) in error.errors {
            check((1...lineCount).contains(line), "error on line \(line) of \(lineCount): \(reason)")
            check(!containsCRorLF(reason), "CR or LF in a reason: \(reason.debugDescription)")
        }
    }
    func checkRoundTrip(_ targets: [AliasTarget]) {
        let written = targets.map(\.description).joined(separator: ", ")
        guard let again = try? AliasTargetParser.parseList(written) else { violated("targets written back do not parse: \(written.debugDescription)") }
        check(again == targets, "targets written back read differently: \(written.debugDescription)")
    }

    if let targets = try? AliasTargetParser.parseList(bytes) { checkRoundTrip(targets) }
    var includeTargets: [AliasTarget] = []
    do {
        includeTargets = try AliasIncludeFile.parse(bytes, file: "include")
        checkRoundTrip(includeTargets)
    } catch {
        checkLines(error)
    }
    let file: AliasesFile
    do {
        file = try AliasesFile.parse(bytes, file: "aliases")
    } catch {
        return checkLines(error)
    }
    var names = Set<String>()
    for entry in file.entries {
        let name = Array(entry.name.utf8)
        check(!name.isEmpty && !name.contains { (0x41...0x5A).contains($0) }, "name \(entry.name.debugDescription) not folded")
        check(!name.contains { $0 < 0x21 || $0 == 0x7F || $0 == UInt8(ascii: "@") || $0 == UInt8(ascii: ":") },
              "name \(entry.name.debugDescription) with a control, a blank, @ or :")
        check(names.insert(entry.name).inserted, "name \(entry.name) twice")
        check(!entry.targets.isEmpty, "alias \(entry.name) without targets")
        check(!entry.value.contains { $0 == 0x0A || $0 == 0x0D || $0 == 0 }, "LF, CR or NUL in a stored value")
        check((try? AliasTargetParser.parseList(entry.value)) == entry.targets, "the stored value of \(entry.name) reads differently")
        checkRoundTrip(entry.targets)
    }

    var limits = AliasExpander.Limits()
    limits.maxDepth = 8
    limits.maxIncludeDepth = 3
    limits.maxRecipients = 200
    limits.maxTargets = 2000
    let table = Dictionary(file.entries.map { ($0.name, $0.targets) }, uniquingKeysWith: { a, _ in a })
    let isMailbox: @Sendable (String) -> Bool = { $0.utf8.count % 2 == 0 }
    let included = includeTargets
    let expander = AliasExpander(domain: "fuzz.test", limits: limits, lookup: { table[$0] }, isMailbox: isMailbox,
                                 readInclude: { path in
                                     if path.hasSuffix("/missing") { throw AliasTemporaryFailure("missing") }
                                     return included
                                 })
    for entry in file.entries.prefix(50) {
        let expansion = expander.expand(entry.name)
        let deliveries = expansion.deliveries
        check(!deliveries.isEmpty, "\(entry.name) expands to nothing")
        check(deliveries.count <= limits.maxRecipients + 1, "\(deliveries.count) deliveries")
        var seen = Set<AliasDelivery.Target>()
        for delivery in deliveries {
            switch delivery.target {
            case let .mailbox(name):
                check(isMailbox(name), "delivered to \(name.debugDescription), no mailbox")
            case let .error(code, enhanced, text):
                check((400...599).contains(code) && isEnhancedCode(enhanced) && enhanced.first == String(code / 100).first,
                      "error \(code) \(enhanced)")
                check(!text.isEmpty && !containsCRorLF(text), "error text \(text.debugDescription)")
                continue
            default:
                break
            }
            check(seen.insert(delivery.target).inserted, "\(delivery.target) delivered twice")
            check(delivery.envelopeSender.map { $0.hasPrefix("owner-") && $0.hasSuffix("@fuzz.test") } ?? true, "sender \(String(describing: delivery.envelopeSender))")
        }
    }
}
