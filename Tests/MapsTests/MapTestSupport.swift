import Foundation

/// Paths and processes for the map tests.
enum MapTestSupport {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

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

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "mailstack-maps-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a program with `input` on stdin.
    @discardableResult
    static func run(_ argv: [String], input: [UInt8] = []) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(Data(input))
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                      stderr: String(decoding: err, as: UTF8.self))
    }

    /// The lines of a `makemap -u` dump, sorted (hash order is not meaningful).
    static func sortedLines(_ text: String) -> [String] {
        text.split(separator: "\n").map(String.init).sorted()
    }
}

extension MapTestSupport {
    /// A product of this package, from the build directory the tests run from.
    static func binary(_ name: String) -> String {
        URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path
    }
}
