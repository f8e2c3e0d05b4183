import Foundation
import MailstackPostgres
import Testing
import TestSupport

/// The database password: from a file only the service may read, or systemd's credentials.
@Suite("pgsql password file")
struct DatabasePasswordTests {
    let dir: String
    init() throws { dir = try TestSupport.temporaryDirectory("pgpw") }

    func file(_ name: String, _ text: String, mode: Int) -> String {
        let path = dir + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
        chmod(path, mode_t(mode))
        return path
    }

    @Test("the first line of a file the service alone (or its group) may read")
    func readable() throws {
        #expect(try DatabaseSettings.password(file: file("a", "s3cret\nignored\n", mode: 0o600), environment: [:]) == "s3cret")
        #expect(try DatabaseSettings.password(file: file("b", "s3cret\r\n", mode: 0o640), environment: [:]) == "s3cret")
    }

    @Test("refused: readable by others, a symbolic link, a control character, too long; errors name the file")
    func refused() throws {
        let loose = file("loose", "x\n", mode: 0o644)
        #expect(throws: PasswordFileError.self) { try DatabaseSettings.password(file: loose, environment: [:]) }
        do {
            _ = try DatabaseSettings.password(file: loose, environment: [:])
        } catch {
            #expect("\(error)" == "pgsql.password_file: \(loose): readable by others (mode 644): chmod o-rwx")
        }
        symlink(file("target", "x\n", mode: 0o600), dir + "/link")
        #expect(throws: PasswordFileError.self) { try DatabaseSettings.password(file: dir + "/link", environment: [:]) }
        #expect(throws: PasswordFileError.self) { try DatabaseSettings.password(file: file("ctl", "a\u{7}b\n", mode: 0o600), environment: [:]) }
        #expect(throws: PasswordFileError.self) {
            try DatabaseSettings.password(file: file("long", String(repeating: "x", count: 5000), mode: 0o600), environment: [:])
        }
    }

    @Test("no file set: systemd's $CREDENTIALS_DIRECTORY/pgsql-password when there, else no password")
    func credentials() throws {
        try FileManager.default.createDirectory(atPath: dir + "/creds", withIntermediateDirectories: true)
        #expect(try DatabaseSettings.password(file: "", environment: ["CREDENTIALS_DIRECTORY": dir + "/creds"]) == nil)
        _ = file("creds/pgsql-password", "from-systemd\n", mode: 0o400)
        #expect(try DatabaseSettings.password(file: "", environment: ["CREDENTIALS_DIRECTORY": dir + "/creds"]) == "from-systemd")
        #expect(try DatabaseSettings.password(file: "", environment: [:]) == nil)
    }
}
