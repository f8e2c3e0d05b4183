/// local-delivery's view: sendmail's prog mailer behind smrsh, and its file mailer.
extension MailstackConfiguration {
    public var localSmrshDirectory: String { values.string("local.smrsh_directory") }
    public var localProgramTimeout: Duration { values.duration("local.program_timeout") }
    public var localProgramFromLine: Bool { values.bool("local.program_from_line") }
    public var localRunAs: String { values.string("local.run_as") }
    public var localFileDirectories: [String] { values.list("local.file_directories") }
    public var localFileLockTimeout: Duration { values.duration("local.file_lock_timeout") }

    func validateLocal(_ fail: (String, String) -> ConfigError) throws {
        if !localSmrshDirectory.hasPrefix("/") { throw fail("local.smrsh_directory", "must be an absolute path") }
        for directory in localFileDirectories where !directory.hasPrefix("/") {
            throw fail("local.file_directories", "'\(directory.prefix(60))' is not an absolute path")
        }
        if localProgramTimeout <= .zero { throw fail("local.program_timeout", "must be positive") }
        if localFileLockTimeout <= .zero { throw fail("local.file_lock_timeout", "must be positive") }
        if localRunAs.isEmpty { throw fail("local.run_as", "must name a user") }
        if localRunAs == "root" || localRunAs == "0" { throw fail("local.run_as", "programs and files never run as root") }
    }
}
