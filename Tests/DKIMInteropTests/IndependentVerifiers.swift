import Foundation
import TestSupport

/// Debian's python3-dkim (dkimpy) and OpenDKIM (opendkim-testmsg, and the opendkim filter in
/// test mode) run on messages, with the keys served by a dnsmasq on 127.0.0.1:53 inside a
/// network namespace of their own (`unshare -n -m`: nothing can leave the machine, and the
/// namespace's /etc/resolv.conf names that dnsmasq). Tests/Interop/dkim-verify.sh does the work.
enum IndependentVerifiers {
    struct Verdict: Equatable, CustomStringConvertible {
        /// dkimpy's result for each signature, top to bottom ("pass", "fail", "error:...").
        var dkimpy: [String]
        /// opendkim-testmsg: the message verifies (libopendkim's dkim_eom).
        var testmsg: String
        /// The opendkim filter (-t): at least one signature "succeeded".
        var opendkim: String
        var description: String { "dkimpy=\(dkimpy.joined(separator: ",")) testmsg=\(testmsg) opendkim=\(opendkim)" }
    }

    /// `messages`: name -> octets; `records`: DNS name -> TXT text.
    static func verify(_ messages: [String: [UInt8]], records: [String: String]) async throws -> [String: Verdict] {
        let dir = try TestSupport.temporaryDirectory("dkimv")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, octets) in messages {
            FileManager.default.createFile(atPath: "\(dir)/\(name).eml", contents: Data(octets))
        }
        try records.map { "\($0.key)\t\($0.value)\n" }.joined().write(toFile: dir + "/records", atomically: true, encoding: .utf8)
        let script = TestSupport.packageRoot + "/Tests/Interop/dkim-verify.sh"
        let run = try await TestSupport.runAsync(["/usr/bin/unshare", "-n", "-m", "/bin/sh", script, dir])
        var verdicts: [String: Verdict] = [:]
        for line in run.stdout.split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            guard words.count == 4, words[0].hasSuffix(".eml") else { continue }
            func value(_ word: String) -> String { String(word.split(separator: "=", maxSplits: 1).last ?? "") }
            verdicts[String(words[0].dropLast(4))] = Verdict(dkimpy: value(words[1]).split(separator: ",").map(String.init),
                                                             testmsg: value(words[2]), opendkim: value(words[3]))
        }
        if verdicts.count != messages.count { print("dkim-verify.sh: \(run.stdout)\n\(run.stderr)") }
        return verdicts
    }

    /// A message as smtp-sink dumped it, without the envelope lines it put on top (X-Mail-Args,
    /// X-Rcpt-Args and the like), line ends as received.
    static func captured(_ dump: String) -> [UInt8] {
        var lines = dump.split(separator: "\n", omittingEmptySubsequences: false)
        while let first = lines.first, first.hasPrefix("X-Mail-Args:") || first.hasPrefix("X-Rcpt-Args:")
                || first.hasPrefix("X-Client-Addr:") || first.hasPrefix("X-Client-Proto:") || first.hasPrefix("X-Helo-Args:") {
            lines.removeFirst()
        }
        return Array(lines.joined(separator: "\n").utf8)
    }
}

/// `mailstack dkim keygen` run for real: the key file it wrote and the TXT record it printed.
struct GeneratedKey {
    let path: String
    let record: String
    let output: String

    init(domain: String, selector: String, algorithm: String, directory: String) async throws {
        let run = try await TestSupport.runAsync([TestSupport.binary("mailstack"), "dkim", "keygen", domain, selector,
                                                  "--algorithm", algorithm, "--directory", directory])
        guard run.status == 0 else { throw POSIXError(.EINVAL) }
        output = run.stdout
        path = "\(directory)/\(domain).\(selector).key"
        // selector._domainkey.domain. IN TXT "..." "...": the strings joined.
        let line = run.stdout.split(separator: "\n").first { $0.hasPrefix("\(selector)._domainkey.\(domain). IN TXT ") } ?? ""
        record = line.split(separator: "\"").enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }.joined()
    }
}
