#if canImport(Glibc)
import Glibc
#endif
import SMTP

/// sendmail's prog mailer behind smrsh: the command line checked and split (no shell), its
/// program looked up in the smrsh directory, run with the message on stdin and nothing else of
/// ours (a fixed environment, no descriptor but 0-2, its own process group, never root), its
/// end turned into the answer by sendmail's table (`ProgramExit`).
struct ProgramDelivery: Sendable {
    let settings: LocalDeliverySettings
    let smrsh: Smrsh

    init(settings: LocalDeliverySettings) {
        self.settings = settings
        smrsh = Smrsh(directory: settings.smrshDirectory)
    }

    struct Outcome: Sendable {
        var reply: SMTPReply
        /// The program's pid, once it ran.
        var pid: pid_t?
        /// What it wrote, as one escaped line of up to 4 KiB, for the log.
        var output: String = ""
    }

    func deliver(_ job: LocalJob, command line: String, message: [UInt8], now: time_t) async -> Outcome {
        let user: (uid: UInt32, gid: UInt32)?
        switch settings.identity {
        case let .unusable(reason): return Outcome(reply: SMTPReply(451, "4.3.0", "cannot run programs: \(reason)"))
        case .inherited: user = nil
        case let .switched(_, uid, gid, _): user = (uid, gid)
        }
        let command: ProgramCommand
        do { command = try ProgramCommand.parse(line) } catch { return Outcome(reply: Smrsh.refusal(error)) }
        let argv: [String]
        switch smrsh.lookup(command) {
        case let .run(found): argv = found
        case let .refused(refusal): return Outcome(reply: refusal)
        }
        let home = job.home.isEmpty ? (LocalDeliverySettings.isDirectory(settings.identity.home) ? settings.identity.home : "/") : job.home
        let environment = [
            "SENDER=\(job.sender)", "RECIPIENT=\(job.recipient)", "ORIGINAL_RECIPIENT=\(job.originalRecipient)", "HOME=\(home)",
            "PATH=\(LocalDeliverySettings.programPath)", "SHELL=/bin/sh", "AGENT=mailstack", "LANG=C",
        ]
        var input = settings.programFromLine ? MboxFormat.fromLine(sender: job.sender, date: now) : []
        input += MboxFormat.unixLines(message)
        let run = ProgramRun(argv: argv, environment: environment, directory: LocalDeliverySettings.isDirectory(home) ? home : "/", user: user,
                             input: input, timeout: settings.programTimeout, stopGrace: settings.stopGrace,
                             outputLimit: LocalDeliverySettings.outputLimit)
        switch await ProgramSupervisor.run(run) {
        case let .success(report):
            return Outcome(reply: ProgramExit.reply(report.outcome, output: ProgramExit.quote(report.output)), pid: report.pid,
                           output: ProgramExit.quote(report.output, limit: LocalDeliverySettings.outputLimit))
        case let .failure(failure):
            return Outcome(reply: Self.reply(failure, argv[0], identity: settings.identity))
        }
    }

    /// A program that could not be started: always temporary (sendmail's child exited EX_OSERR
    /// when a local mailer could not be executed); above all, one that could not leave root.
    static func reply(_ failure: LinuxProcess.SpawnFailure, _ path: String, identity: RunIdentity) -> SMTPReply {
        switch failure.stage {
        case .identity:
            return SMTPReply(451, "4.3.0", "cannot run \(path) as \(identity): \(failure.text) (programs never run as root)")
        case .exec:
            return SMTPReply(451, "4.0.0", "Operating system error: cannot execute \(path): \(failure.text)")
        case .directory:
            return SMTPReply(451, "4.3.0", "cannot run \(path): its working directory: \(failure.text)")
        case .fork, .setup:
            return SMTPReply(451, "4.3.0", "cannot start \(path): \(failure.text)")
        }
    }
}
