import Foundation
import Testing
import TestSupport

/// Issue 18's proof with real hosts: Tests/System/multihost-test.sh builds two front-end hosts
/// and a PostgreSQL as network namespaces (as root, with ip and Debian's PostgreSQL 15) and
/// drives them from a client namespace: POP-before-SMTP across hosts, the window closing on
/// both, one POP3 session per mailbox across hosts, the database stopped and started again.
@Suite("several hosts on one PostgreSQL")
struct MultiHostTests {
    static var possible: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") && TestPostgres.isInstalled
            && FileManager.default.isExecutableFile(atPath: "/usr/sbin/dnsmasq")
    }

    @Test("two front-end hosts in network namespaces share drac and mailbox locks through PostgreSQL", .enabled(if: possible))
    func twoHosts() async throws {
        let bin = URL(fileURLWithPath: TestSupport.binary("mailstack")).deletingLastPathComponent().path
        let run = try await TestSupport.runAsync([TestSupport.packageRoot + "/Tests/System/multihost-test.sh", bin])
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stdout.contains("== all passed"), "\(run.stdout)")
    }
}
