#if canImport(Glibc)
import Glibc
#endif
import Logging
import SMTP

/// local-delivery's work, apart from IPC: one job to a program or a file, answered with the
/// reply the queue keeps, and one log line in sendmail's form:
/// `<qid>: to="|/usr/bin/prog -x", ctladdr=<rcpt>, orig_to=<orcpt>, xdelay=00:00:01, mailer=prog, dsn=2.0.0, stat=Sent`.
public struct LocalDelivery: Sendable {
    public let settings: LocalDeliverySettings
    let programs: ProgramDelivery
    let files: FileDelivery
    let logger: Logger

    public init(settings: LocalDeliverySettings, logger: Logger) {
        self.settings = settings
        programs = ProgramDelivery(settings: settings)
        files = FileDelivery(directories: settings.fileDirectories, lockTimeout: settings.fileLockTimeout, identity: settings.identity)
        self.logger = logger
    }

    /// Delivers `message` (the queue's CRLF lines) as `job` says.
    public func deliver(_ job: LocalJob, message: [UInt8]) async -> SMTPReply {
        let started = ContinuousClock.now
        let now = time(nil)
        var line: String
        var reply: SMTPReply
        var said = ""
        switch job.target {
        case let .program(command):
            let outcome = await programs.deliver(job, command: command, message: message, now: now)
            reply = outcome.reply
            line = "to=\"|\(command)\""
            if !reply.isPositive && !outcome.output.isEmpty { said = ", output=\(outcome.output)" }
            if let pid = outcome.pid { line += ", pid=\(pid)" }
        case let .file(path):
            reply = await files.deliver(path: path, entry: MboxFormat.entry(sender: job.sender, message: message, date: now))
            line = "to=\(path)"
        }
        line += ", ctladdr=<\(job.recipient)>"
        if !job.originalRecipient.isEmpty && job.originalRecipient != job.recipient { line += ", orig_to=<\(job.originalRecipient)>" }
        if !job.alias.isEmpty { line += ", alias=\(job.alias)" }
        let mailer = if case .program = job.target { "prog" } else { "*file*" }
        let stat = reply.isPositive ? reply.text : reply.isTemporary ? "Deferred: \(reply.text)" : reply.text
        line += ", xdelay=\(Self.clock(started.duration(to: .now))), mailer=\(mailer), dsn=\(reply.enhanced), stat=\(stat)\(said)"
        let level: Logger.Level = reply.isPositive ? .info : .notice
        logger.log(level: level, "\(job.queueID): \(line)", metadata: ["mail.qid": "\(job.queueID)"])
        return reply
    }

    /// "HH:MM:SS", as sendmail logs delays.
    static func clock(_ duration: Duration) -> String {
        let s = max(0, duration.components.seconds)
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(two(s / 3600))" + ":" + two(s / 60 % 60) + ":" + two(s % 60)
    }
}
