import Foundation
import MailstackAliases
@_exported import TestSupport

/// Paths, processes and small builders for the aliases tests.
enum AliasesTestSupport {
    static let packageRoot = TestSupport.packageRoot

    /// Debian's sendmail-bin as scripts/install-deps.sh unpacks it (or MAILSTACK_SENDMAIL_BIN,
    /// a directory holding sendmail, praliases and makemap).
    static var sendmailDirectory: String {
        ProcessInfo.processInfo.environment["MAILSTACK_SENDMAIL_BIN"] ?? packageRoot + "/.build/sendmail-bin/usr/libexec/sendmail"
    }

    static func temporaryDirectory() throws -> String { try TestSupport.temporaryDirectory("aliases") }

    @discardableResult
    static func run(_ argv: [String], input: [UInt8] = []) throws -> TestSupport.Result { try TestSupport.run(argv, input: input) }

    static func binary(_ name: String) -> String { TestSupport.binary(name) }

    static func parse(_ text: String, file: String = "aliases") throws -> AliasesFile {
        try AliasesFile.parse(Array(text.utf8), file: file)
    }
}

extension AliasesTestSupport {
    static func fixture(_ name: String) throws -> [UInt8] {
        guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil) else { throw POSIXError(.ENOENT) }
        return Array(try Data(contentsOf: url))
    }
}
