import Foundation
import MailstackConfig
import Testing

@Suite("import-mc on the seed's sendmail.mc")
struct ImportMCTests {
    func seed() throws -> String {
        let url = Bundle.module.url(forResource: "Fixtures/sendmail.mc", withExtension: nil)!
        return try String(contentsOf: url, encoding: .utf8)
    }

    @Test("every directive of the seed is translated, ignored or reported unsupported")
    func everyDirective() throws {
        let text = try seed()
        let importer = MCImporter.importMC(text)
        let accounted = Set(importer.findings.map(\.line))
        // Every non-empty line outside the ruleset body belongs to a finding.
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("R") { continue }
            #expect(accounted.contains(index + 1), "line \(index + 1) not accounted: \(line)")
        }
        let unsupported = importer.findings.filter { if case .unsupported = $0.outcome { return true } else { return false } }
        #expect(unsupported.isEmpty, "\(unsupported)")
        let report = importer.report(source: "sendmail.mc")
        #expect(report.contains("sendmail.mc:3: OSTYPE(solaris9): ignored: "))
        #expect(report.contains("sendmail.mc:2: VERSIONID("))
        #expect(report.contains("translated -> policy.ptr_check"))
        #expect(report.contains("sendmail.mc:17: FEATURE(`drac'): translated -> policy.drac"))
    }

    @Test("the seed with CRLF line ends imports the same (CR LF is one Character; found by fuzzing)")
    func crlf() throws {
        let text = try seed()
        let lf = MCImporter.importMC(text), crlf = MCImporter.importMC(text.replacingOccurrences(of: "\n", with: "\r\n"))
        #expect(crlf.values.map { "\($0.name)=\($0.value)@\($0.line)" } == lf.values.map { "\($0.name)=\($0.value)@\($0.line)" })
        #expect(crlf.findings == lf.findings)
    }

    @Test("values with control characters, quotes and backslashes read back exactly from the YAML (found by fuzzing)")
    func yamlEscapes() throws {
        let importer = MCImporter.importMC("Dwho\u{01}st\tx\u{85}\u{FEFF}\nDmdo\"ma\\in\r\n")
        let parsed = try ConfigLoader.parse(importer.yaml(source: "sendmail.mc"), file: "mailstack.yaml")
        #expect(parsed.map(\.name) == ["host.name", "host.domain"])
        #expect(parsed.map(\.entry.value) == [.scalar("ho\u{01}st\tx\u{85}\u{FEFF}"), .scalar("do\"ma\\in")])
    }

    @Test("the imported configuration loads and equals the defaults, key by key")
    func equalsDefaults() throws {
        let importer = MCImporter.importMC(try seed())
        let yaml = importer.yaml(source: "sendmail.mc")
        let path = NSTemporaryDirectory() + "imported-\(UUID().uuidString).yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let imported = try ConfigLoader.load(file: path, environment: [:])
        let names = Set(importer.values.map(\.name))
        #expect(names.isSuperset(of: [
            "host.name", "host.domain", "host.fqdn", "smtp.max_message_size", "queue.min_age", "queue.warn_after",
            "queue.return_after", "smtp.ident_timeout", "masquerade.as", "masquerade.envelope", "maps.access",
            "policy.drac", "smtp.privacy", "smtp.login_message", "smtp.operators", "maps.virtuser_domains",
            "maps.virtusertable", "maps.mailertable", "smtp.submission", "smtp.canonify", "outbound.smart_host",
            "outbound.max_message_size", "outbound.max_line", "policy.ptr_check",
        ]))
        for key in ConfigKey.all {
            #expect(imported.values.value(key.name) == MailstackConfiguration.defaults.values.value(key.name), "\(key.name)")
        }
    }

    @Test("confTRUSTED_USERS becomes submit.trusted_users (sendmail's class t, blank-separated)")
    func trustedUsers() throws {
        let importer = MCImporter.importMC("define(`confTRUSTED_USERS', `majordomo  mailman,list')dnl\n")
        #expect(importer.findings.map(\.outcome) == [.translated(["submit.trusted_users"])])
        let parsed = try ConfigLoader.parse(importer.yaml(source: "sendmail.mc"), file: "mailstack.yaml")
        #expect(parsed.map(\.entry.value) == [.list(["majordomo", "mailman", "list"])])
    }

    @Test("a ruleset other than the seed's PTR check, and unknown features, are reported unsupported")
    func unsupported() {
        let importer = MCImporter.importMC("""
        FEATURE(`blacklist_recipients')dnl
        define(`confFOO', `1')dnl
        LOCAL_RULESETS
        SLocal_check_mail
        R$*\t$#error $: 550 no
        """)
        let outcomes = importer.findings.map(\.outcome)
        #expect(outcomes.count == 4)
        #expect(outcomes[0] == .unsupported("FEATURE(blacklist_recipients) has no equivalent in mailstack"))
        #expect(outcomes[1] == .unsupported("confFOO has no equivalent in mailstack"))
        #expect(outcomes[3] == .unsupported("custom rulesets cannot be run; relay-policy's decisions are configured by keys"))
    }
}
