import Foundation
@_exported import TestSupport

/// Paths and processes for the map tests.
enum MapTestSupport {
    static let packageRoot = TestSupport.packageRoot

    static func fixture(_ name: String) throws -> [UInt8] {
        let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)!
        return Array(try Data(contentsOf: url))
    }

    /// sendmail's real makemap, extracted from Debian's sendmail-bin by scripts/install-deps.sh
    /// (or named by MAILSTACK_SENDMAIL_MAKEMAP).
    static var sendmailMakemap: String {
        ProcessInfo.processInfo.environment["MAILSTACK_SENDMAIL_MAKEMAP"]
            ?? packageRoot + "/.build/sendmail-bin/usr/sbin/makemap"
    }

    static func temporaryDirectory() throws -> String { try TestSupport.temporaryDirectory("maps") }

    @discardableResult
    static func run(_ argv: [String], input: [UInt8] = []) throws -> TestSupport.Result { try TestSupport.run(argv, input: input) }

    /// `run` off the cooperative pool, for async tests (a blocking wait there stalls the others).
    static func runAsync(_ argv: [String], input: [UInt8] = []) async throws -> TestSupport.Result {
        try await TestSupport.runAsync(argv, input: input)
    }

    /// The lines of a `makemap -u` dump, sorted (hash order is not meaningful).
    static func sortedLines(_ text: String) -> [String] { TestSupport.sortedLines(text) }

    static func binary(_ name: String) -> String { TestSupport.binary(name) }
}

