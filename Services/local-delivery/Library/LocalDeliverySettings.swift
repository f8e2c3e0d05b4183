#if canImport(Glibc)
import Glibc
#endif

/// local-delivery's settings, from the `local.` keys (and smtp.max_message_size).
public struct LocalDeliverySettings: Sendable {
    /// local.smrsh_directory: the only programs that may run are its entries.
    public var smrshDirectory: String
    /// local.program_timeout: then the program's process group gets SIGTERM.
    public var programTimeout: Duration
    /// Between SIGTERM and SIGKILL of a program that overran: long enough for a list manager to
    /// remove its lock files, short against the queue's wait.
    public var stopGrace: Duration = .seconds(5)
    /// local.program_from_line: a `From sender date` line before the message on a program's stdin.
    public var programFromLine: Bool
    /// Who programs and file deliveries run as.
    public var identity: RunIdentity
    /// local.file_directories, each as its real path (symbolic links resolved at start).
    public var fileDirectories: [String]
    /// local.file_lock_timeout: the longest wait for a mailbox's lock.
    public var fileLockTimeout: Duration
    /// The largest message taken: smtp.max_message_size and the queue's own header fields.
    public var maxMessageSize: Int

    /// The first octets of a program's output kept (stdout and stderr together); the rest is
    /// read and dropped, so a chatty program never blocks on a full pipe.
    public static let outputLimit = 4096
    /// The part of that output quoted in the answer: a DSN's Diagnostic-Code field and a log line
    /// stay well under RFC 5322's 998 octets.
    public static let quotedOutputLimit = 400
    /// What a program may find in its PATH.
    public static let programPath = "/usr/local/bin:/usr/bin:/bin"

    public init(smrshDirectory: String, programTimeout: Duration, programFromLine: Bool = false, identity: RunIdentity,
                fileDirectories: [String] = [], fileLockTimeout: Duration = .seconds(60), maxMessageSize: Int = 5_242_880 + 65536) {
        self.smrshDirectory = smrshDirectory
        self.programTimeout = programTimeout
        self.programFromLine = programFromLine
        self.identity = identity
        self.fileDirectories = fileDirectories
        self.fileLockTimeout = fileLockTimeout
        self.maxMessageSize = maxMessageSize
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }
}
