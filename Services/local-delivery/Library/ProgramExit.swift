import SMTP

/// How a program ended.
public enum ProgramOutcome: Sendable, Equatable {
    case exited(Int32)
    case signaled(Int32)
    /// Still running at local.program_timeout: its process group was stopped.
    case timedOut(Duration)
}

/// What a program's end means for the mail: sendmail's table of sysexits.h statuses
/// (libsm/strexit.c's sm_sysexmsg, as giveresponse() answered for the prog mailer), and
/// markfailure()'s rule that only EX_TEMPFAIL, EX_OSERR and EX_IOERR are tried again. A status
/// outside the table is `554 5.3.0 unknown mailer error N`; a program killed by a signal
/// (endmailer()) and one stopped at the time limit are tried again.
public enum ProgramExit {
    /// sysexits.h status -> code, enhanced code, text.
    public static let table: [Int32: (code: Int, enhanced: String, text: String)] = [
        0: (250, "2.0.0", "Sent"),
        64: (500, "5.0.0", "Command line usage error"),       // EX_USAGE
        65: (501, "5.6.0", "Data format error"),              // EX_DATAERR
        66: (550, "5.3.0", "Cannot open input"),              // EX_NOINPUT
        67: (550, "5.1.1", "User unknown"),                   // EX_NOUSER
        68: (550, "5.1.2", "Host unknown"),                   // EX_NOHOST
        69: (554, "5.0.0", "Service unavailable"),            // EX_UNAVAILABLE
        70: (554, "5.3.0", "Internal error"),                 // EX_SOFTWARE
        71: (451, "4.0.0", "Operating system error"),         // EX_OSERR
        72: (554, "5.3.5", "System file missing"),            // EX_OSFILE
        73: (550, "5.0.0", "Can't create output"),            // EX_CANTCREAT
        74: (451, "4.0.0", "I/O error"),                      // EX_IOERR
        75: (450, "4.0.0", "Deferred"),                       // EX_TEMPFAIL
        76: (554, "5.5.0", "Remote protocol error"),          // EX_PROTOCOL
        77: (550, "5.0.0", "Insufficient permission"),        // EX_NOPERM
        78: (554, "5.3.5", "Local configuration error"),      // EX_CONFIG
    ]

    /// The answer for `outcome`, with the start of what the program wrote (`output`, already
    /// escaped to one line) after a failure: `554 5.3.0 unknown mailer error 1 (program said: ...)`.
    public static func reply(_ outcome: ProgramOutcome, output: String) -> SMTPReply {
        var reply: SMTPReply
        switch outcome {
        case let .exited(status):
            if let entry = table[status] {
                reply = SMTPReply(entry.code, entry.enhanced, entry.text)
            } else {
                reply = SMTPReply(554, "5.3.0", "unknown mailer error \(status)")
            }
        case let .signaled(signal):
            reply = SMTPReply(451, "4.3.0", "mailer prog died with signal \(signal)")
        case let .timedOut(limit):
            reply = SMTPReply(451, "4.4.7", "program timed out after \(durationText(limit)) (local.program_timeout); its processes were killed")
        }
        if !reply.isPositive && !output.isEmpty { reply.lines = [reply.text + " (program said: \(output))"] }
        return reply
    }

    /// A program's output as one line for an answer and a log: lines joined by " / ", blank ones
    /// dropped, control characters written `\xNN`, cut at `limit` characters (then "...").
    public static func quote(_ output: [UInt8], limit: Int = LocalDeliverySettings.quotedOutputLimit) -> String {
        let text = String(decoding: output, as: UTF8.self)
        let lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
            .map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
        var quoted = ""
        for scalar in lines.joined(separator: " / ").unicodeScalars {
            if LocalJob.isControl(scalar) {
                quoted += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16, uppercase: true)
            } else {
                quoted.unicodeScalars.append(scalar)
            }
        }
        return quoted.count > limit ? String(quoted.prefix(limit)) + "..." : quoted
    }
}

/// "10m", "1m30s", "1s": the configuration's notation.
func durationText(_ duration: Duration) -> String {
    var seconds = max(duration.components.seconds, 0)
    guard seconds > 0 else { return "\(duration.components.attoseconds / 1_000_000_000_000_000)ms" }
    var out = ""
    for (unit, size) in [("h", Int64(3600)), ("m", 60), ("s", 1)] where seconds >= size {
        out += "\(seconds / size)\(unit)"
        seconds %= size
    }
    return out
}

extension Substring {
    func trimmingWhitespace() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
