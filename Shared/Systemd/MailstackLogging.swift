import CSystemd
#if canImport(Glibc)
import Glibc
#endif
import Logging

/// Logging for every daemon: to the journal (with fields) when stderr is connected to it
/// (JOURNAL_STREAM, as systemd sets it), otherwise one line per event on stderr. Labels are
/// `mailstack.<service>`; metadata keys are namespaced (`mail.qid`, `ipc.peer`).
public enum MailstackLogging {
    public static func bootstrap(level: Logger.Level = .info) {
        let journal = stderrIsJournal()
        LoggingSystem.bootstrap { label in
            if journal {
                return JournalLogHandler(label: label, logLevel: level)
            }
            return StderrLogHandler(label: label, logLevel: level)
        }
    }

    /// JOURNAL_STREAM is "device:inode" of the journal stream stderr was connected to.
    static func stderrIsJournal() -> Bool {
        guard let value = getenv("JOURNAL_STREAM").map({ String(cString: $0) }) else { return false }
        var st = stat()
        guard fstat(2, &st) == 0 else { return false }
        return value == "\(st.st_dev):\(st.st_ino)"
    }

    static func format(_ metadata: Logger.Metadata) -> String {
        metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\(escape("\($0.value)"))" }.joined(separator: " ")
    }

    /// The text with every control character (C0, DEL, C1) written as `\xNN` and backslashes
    /// doubled. Every message and metadata value goes through it: whatever a client managed to
    /// put into a log line (a CR, LF or NUL in a HELO, an AUTH name, an address), it can never
    /// forge another line, cut the entry short or reach a terminal as an escape sequence.
    public static func escape(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0 == "\\" }) else {
            return text
        }
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                out += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16, uppercase: true)
            } else if scalar == "\\" {
                out += "\\\\"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

/// One line per event on stderr: `<label>[pid]: <level>: message key=value ...`. Timestamps
/// are left to whoever collects stderr (journald, a terminal, a test).
public struct StderrLogHandler: MetadataLogHandler {
    public let label: String
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]

    public init(label: String, logLevel: Logger.Level) {
        self.label = label
        self.logLevel = logLevel
    }

    public func log(event: LogEvent) {
        let all = merged(event)
        var line = "\(label)[\(getpid())]: \(event.level): \(MailstackLogging.escape("\(event.message)"))"
        if !all.isEmpty { line += " " + MailstackLogging.format(all) }
        line += "\n"
        _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
    }
}

/// Structured journal entries (sd_journal_sendv): MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, and each
/// metadata key as a field (`mail.qid` -> MAIL_QID).
public struct JournalLogHandler: MetadataLogHandler {
    public let label: String
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]

    public init(label: String, logLevel: Logger.Level) {
        self.label = label
        self.logLevel = logLevel
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    public func log(event: LogEvent) {
        let all = merged(event)
        var message = MailstackLogging.escape("\(event.message)")
        if !all.isEmpty { message += " " + MailstackLogging.format(all) }
        var fields = [
            "MESSAGE=\(message)",
            "PRIORITY=\(Self.priority(event.level))",
            "SYSLOG_IDENTIFIER=\(label)",
        ]
        for (key, value) in all {
            let name = key.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }
            fields.append("\(String(name))=\(MailstackLogging.escape("\(value)"))")
        }
        let copies = fields.map { strdup($0)! }
        defer { copies.forEach { free($0) } }
        let vectors = copies.map { iovec(iov_base: UnsafeMutableRawPointer($0), iov_len: strlen($0)) }
        _ = vectors.withUnsafeBufferPointer { ms_journal_sendv($0.baseAddress, Int32($0.count)) }
    }
}

/// The metadata plumbing both handlers share.
public protocol MetadataLogHandler: LogHandler {
    var metadata: Logger.Metadata { get set }
}

extension MetadataLogHandler {
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// The handler's metadata with the event's on top.
    func merged(_ event: LogEvent) -> Logger.Metadata {
        guard let extra = event.metadata else { return metadata }
        return metadata.merging(extra) { $1 }
    }
}
