import Foundation
import Testing
import TestSupport

/// bench/run.sh with a tiny load, so the harness cannot rot: mailstack, Postfix, Dovecot and
/// smtp-sink started, every measurement taken once, the table, the figures and the plot
/// written. The numbers are not judged here (a loaded test machine says nothing about speed).
@Suite("benchmark harness smoke run")
struct BenchSmokeTests {
    /// MAILSTACK_BENCH_BIN (scripts/test.sh builds release binaries for this: a release-only
    /// crash was once found by a benchmark), else the debug binaries of this test run.
    static var binaries: String {
        ProcessInfo.processInfo.environment["MAILSTACK_BENCH_BIN"]
            ?? (TestSupport.binary("mailstack") as NSString).deletingLastPathComponent
    }

    @Test("bench/run.sh --smoke: every row measured for mailstack and its peer, table, figures and plot written",
          .timeLimit(.minutes(10)))
    func smoke() async throws {
        let out = try TestSupport.temporaryDirectory("bench")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let run = try await TestSupport.runAsync(["/usr/bin/env", "BIN=\(Self.binaries)", TestSupport.packageRoot + "/bench/run.sh", "--smoke", out])
        #expect(run.status == 0, "\(run.stdout.suffix(3000))\n\(run.stderr.suffix(3000))")
        let table = (try? String(contentsOfFile: out + "/results.md", encoding: .utf8)) ?? ""
        for size in ["2 KB", "50 KB"] {
            for rcpts in ["1 rcpt", "10 rcpt"] {
                for conns in ["1 conn", "10 conn", "50 conn"] {
                    let row = table.split(separator: "\n").first { $0.hasPrefix("| \(size), \(rcpts), \(conns) |") } ?? ""
                    #expect(!row.isEmpty && !row.contains("–"), "SMTP \(size) \(rcpts) \(conns): \(row)")
                }
            }
        }
        for row in ["| outbound |", "| pop3 | logins, 1 client |", "| pop3 | logins, 20 clients |", "| pop3 | RETR 2 KB, 1 client |",
                    "| pop3 | RETR 50 KB, 20 clients |", "| policy | RCPT decisions", "| dkim | outbound, 30 held 2 KB messages, signing: rsa-sha256 |",
                    "| dkim | outbound, 30 held 2 KB messages, signing: ed25519-sha256 |", "| dkim | sign rsa-sha256, 2 KB", "| dkim | verify ed25519-sha256, 50 KB",
                    "| memory | at rest |", "| memory | peak under load |"] {
            #expect(table.contains(row), "no row \(row)")
        }
        let figures = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/runs.json"))) as? [String: Any]
        #expect(((figures?["figures"] as? [Any]) ?? []).count > 100)
        let png = (try? Data(contentsOf: URL(fileURLWithPath: out + "/results.png"))) ?? Data()
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "no PNG plot")
    }
}
