import ArgumentParser
import Foundation
import Maildir
import MailstackConfig
import Mbox

/// `mailstack import-mbox USER MBOX` and `mailstack import-mbox --spool DIR [--map FILE]`:
/// qpopper's mbox spools into the users' Maildirs under queue.maildir_root, keeping the UIDLs
/// POP3 clients already know. The mbox is only read; running it again imports only what is new.
struct ImportMboxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-mbox",
        abstract: "Import mbox spools (qpopper's /var/mail) into Maildirs, keeping qpopper's UIDLs.",
        discussion: """
            Exit codes: 0 done, 64 usage, 65 not an mbox, 66 cannot read it, 73 cannot write the Maildir, \
            75 locked (try again later), 78 configuration.
            """
    )

    @Argument(help: "The user whose Maildir receives the messages (with MBOX).") var user: String?
    @Argument(help: "The mbox file, e.g. /var/mail/USER.") var mbox: String?
    @Option(help: "Import every mbox in this folder (e.g. /var/mail), each into the Maildir of the user it is named after.")
    var spool: String?
    @Option(help: "With --spool: a file of `SPOOLNAME USER` lines (USER `-` skips it); names not listed keep their name.")
    var map: String?
    @Option(help: "mboxo (mail.local, procmail, mutt: the default), mboxrd (mailutils), mboxcl, mboxcl2.")
    var format: String = "mboxo"
    @Flag(help: "qpopper ran with old-style-uid (hex UIDLs).") var oldStyleUids = false
    @Option(help: "Seconds to wait for a locked mbox before giving up.") var wait: Double = 30
    @Flag(help: "Report what would be imported; write nothing.") var dryRun = false
    @Option(help: "The Maildirs' folder (default: queue.maildir_root).") var maildirRoot: String?
    @Option(help: "Configuration file (default: /etc/mailstack/mailstack.yaml if it exists).") var config: String?
    @Option(name: .customLong("set"), help: "Override one configuration key: section.key=value.") var overrides: [String] = []

    func run() throws {
        guard let format = MboxFormat(rawValue: format) else {
            throw ValidationError("--format must be one of \(MboxFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let jobs = try self.jobs()
        let root = try maildirRoot ?? loadConfiguration().maildirRoot
        var options = MboxImporter.Options()
        options.format = format
        options.oldStyleUIDs = oldStyleUids
        options.wait = wait
        options.dryRun = dryRun
        if geteuid() == 0 {
            // Run as root: what is created belongs to the Maildir root's owner and group (the
            // queue's user and the mail group under systemd), as the queue's deliveries do.
            var st = stat()
            if stat(root, &st) == 0 { options.owner = (st.st_uid, st.st_gid) }
            umask(0o007)
        }
        var worst: Int32 = 0
        for (name, path) in jobs {
            let maildir = Maildir(path: root + "/" + name)
            let importer = MboxImporter(maildir: maildir, options: options, now: Int(Date().timeIntervalSince1970))
            do {
                let report = try importer.run(mbox: path) { reason in
                    FileHandle.standardError.write(Data("import-mbox: \(path): waiting up to \(Int(wait)) s: \(reason)\n".utf8))
                }
                print("\(name): \(path) -> \(maildir.path)\(dryRun ? " (dry run)" : ""): \(report.summary)")
            } catch {
                let code: Int32 = switch error {
                case is MboxParser.Failure: 65
                case MboxFile.Failure.locked: 75
                case MboxFile.Failure.open: 66
                default: 73
                }
                FileHandle.standardError.write(Data("import-mbox: \(name): \(error)\n".utf8))
                worst = max(worst, code)
            }
        }
        if worst != 0 { throw ExitCode(worst) }
    }

    /// (user, mbox) pairs to import.
    func jobs() throws -> [(String, String)] {
        if let spool {
            guard user == nil, mbox == nil else { throw ValidationError("give either USER MBOX or --spool DIR") }
            let mapping = try map.map(Self.readMap) ?? [:]
            var pairs: [(String, String)] = []
            for name in try FileManager.default.contentsOfDirectory(atPath: spool).sorted()
            where !name.hasPrefix(".") && !name.hasSuffix(".lock") && !name.hasSuffix("~") {
                var st = stat()
                guard lstat(spool + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
                let target = mapping[name] ?? name
                if target == "-" { continue }
                guard Self.isSafeName(target) else {
                    FileHandle.standardError.write(Data("import-mbox: \(spool)/\(name): skipped: \"\(target)\" is not a user name\n".utf8))
                    continue
                }
                pairs.append((target, spool + "/" + name))
            }
            return pairs
        }
        guard let user, let mbox else { throw ValidationError("give USER MBOX, or --spool DIR") }
        guard Self.isSafeName(user) else { throw ValidationError("\"\(user)\" is not a user name") }
        return [(user, mbox)]
    }

    /// A user name that is one path component: letters, digits, `.`, `_`, `-`, `+`, not starting with `.`.
    static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64 && !name.hasPrefix(".")
            && name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-+".unicodeScalars.contains($0)) }
    }

    static func readMap(_ path: String) throws -> [String: String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("\(path): cannot read the map")
        }
        var mapping: [String: String] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.isEmpty { continue }
            guard fields.count == 2 else { throw ValidationError("\(path): line \(index + 1): expected `SPOOLNAME USER`") }
            mapping[String(fields[0])] = String(fields[1])
        }
        return mapping
    }

    func loadConfiguration() throws -> MailstackConfiguration {
        var file = config
        if file == nil, FileManager.default.isReadableFile(atPath: "/etc/mailstack/mailstack.yaml") {
            file = "/etc/mailstack/mailstack.yaml"
        }
        do {
            return try ConfigLoader.load(file: file, overrides: overrides)
        } catch {
            FileHandle.standardError.write(Data("import-mbox: \(error)\n".utf8))
            throw ExitCode(78)
        }
    }
}
