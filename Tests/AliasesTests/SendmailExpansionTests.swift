import Accounts
import Foundation
import MailstackAliases
import Testing

/// AliasExpander against sendmail's own expansion (`sendmail -bv NAME`: what NAME would be
/// delivered to, aliases expanded, local users checked in the passwd database) on one aliases file: the
/// same mailboxes, the same unknown users, the same loops. Mailboxes are this machine's
/// passwd users (root, daemon, bin, sys are on every Debian; `you` is not).
@Suite("compatibility with sendmail's alias expansion (sendmail -bv)")
struct SendmailExpansionTests {
    static let aliases = """
        postmaster: root
        root: you, \\root
        nobox: nobox, daemon
        loop1: loop2
        loop2: loop1
        bin: fwd4
        fwd4: bin
        list: root, daemon, sys, Daemon
        owner-list: root
        ghost: nobodyatall
        a: b, c
        b: a, daemon
        c: sys, a

        """

    /// One expansion in the terms `-bv` prints: mailboxes, unknown recipients, a loop broken.
    struct Outcome: Equatable, CustomStringConvertible {
        var mailboxes: Set<String> = []
        var unknown: Set<String> = []
        var loop = false

        var description: String { "mailboxes \(mailboxes.sorted()), unknown \(unknown.sorted()), loop \(loop)" }
    }

    /// Runs `sendmail -bv` only where it is quick: as root (own UTS namespace) or on a host
    /// with a qualified name (see SendmailAliasesCompatibilityTests).
    static let quick: Bool = {
        var name = [CChar](repeating: 0, count: 256)
        return geteuid() == 0 || (gethostname(&name, name.count) == 0 && String(cString: name).contains("."))
    }()
    static let needsSendmail = ConditionTrait.enabled(
        if: SendmailAliasesCompatibilityTests.present && quick,
        "sendmail-bin is not unpacked (run scripts/install-deps.sh), or sendmail would sleep 60 s on this host's unqualified name")

    static func sendmailOutcome(_ output: String) -> Outcome {
        var outcome = Outcome()
        for line in output.split(separator: "\n") {
            if let range = line.range(of: "... deliverable: mailer local, user ") {
                outcome.mailboxes.insert(String(line[range.upperBound...]).replacingOccurrences(of: "\\", with: ""))
            } else if line.hasSuffix("... User unknown") {
                outcome.unknown.insert(String(line.dropLast("... User unknown".count)))
            } else if line.contains("aliasing/forwarding loop broken") {
                outcome.loop = true
            }
        }
        return outcome
    }

    static func ourOutcome(_ expansion: AliasExpansion) -> Outcome {
        var outcome = Outcome()
        for delivery in expansion.deliveries {
            switch delivery.target {
            case let .mailbox(name): outcome.mailboxes.insert(name)
            case .error(_, "5.1.1", _): outcome.unknown.insert(delivery.recipient)
            case .error(_, "5.4.6", _): outcome.loop = true
            default: Issue.record("unexpected \(delivery)")
            }
        }
        return outcome
    }

    @Test("sendmail -bv and AliasExpander end each name in the same mailboxes, unknown users and loops", needsSendmail)
    func sameOutcomes() throws {
        let dir = try AliasesTestSupport.temporaryDirectory()
        try Self.aliases.write(toFile: dir + "/aliases", atomically: true, encoding: .utf8)
        let built = try SendmailAliasesCompatibilityTests.sendmail(dir, ["-bi"])
        #expect(built.status == 0, "\(built.stdout)\(built.stderr)")
        let file = try AliasesTestSupport.parse(Self.aliases)
        let table = Dictionary(uniqueKeysWithValues: file.entries.map { ($0.name, $0.targets) })
        let expander = AliasExpander(domain: "mailstack.test", lookup: { table[$0] }, isMailbox: { SystemUser.named($0) != nil })
        let names = ["root", "postmaster", "nobox", "loop1", "bin", "fwd4", "list", "ghost", "you", "daemon", "a", "b", "c"]
        for name in names {
            let verified = try SendmailAliasesCompatibilityTests.sendmail(dir, ["-bv", name])
            let theirs = Self.sendmailOutcome(verified.stdout + "\n" + verified.stderr)
            #expect(theirs != Outcome(), "sendmail said nothing for \(name): \(verified.stdout)\(verified.stderr)")
            #expect(Self.ourOutcome(expander.expand(name)) == theirs, "\(name)")
        }
    }
}
