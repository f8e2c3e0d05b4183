#if canImport(Glibc)
import Glibc
#endif

/// The message as sendmail's local mailers handed it on: LF line ends instead of the queue's
/// CRLF, and for files the mbox form (the file mailer's flags U, P and E): a `From sender date`
/// line, a Return-Path: field, `>From ` for body lines that begin with `From `, a blank line
/// after the message.
public enum MboxFormat {
    /// The queue's CRLF lines with LF ends (a CR not before an LF stays).
    public static func unixLines(_ message: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.count)
        var i = 0
        while i < message.count {
            if message[i] == 0x0D, i + 1 < message.count, message[i + 1] == 0x0A { i += 1 }
            out.append(message[i])
            i += 1
        }
        return out
    }

    /// `From sender Sun Nov 29 12:00:00 2026` and LF: the envelope sender (MAILER-DAEMON for
    /// the null sender) and asctime(3)'s local date, as sendmail's UnixFromLine `From $g $d`.
    public static func fromLine(sender: String, date: time_t) -> [UInt8] {
        Array("From \(sender.isEmpty ? "MAILER-DAEMON" : sender) \(asctime(date))\n".utf8)
    }

    /// asctime(3)'s layout in local time, without its newline: `Sun Nov  9 08:05:03 2026`.
    public static func asctime(_ date: time_t) -> String {
        var time = date
        var parts = tm()
        localtime_r(&time, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%a %b %e %H:%M:%S %Y", &parts)
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// One mbox entry: From line, `Return-Path: <sender>`, the message with LF ends and `>From `
    /// quoting, a line end if the message lacked its last one, and a blank line.
    public static func entry(sender: String, message: [UInt8], date: time_t) -> [UInt8] {
        var out = fromLine(sender: sender, date: date) + Array("Return-Path: <\(sender)>\n".utf8)
        let lines = unixLines(message)
        out.reserveCapacity(out.count + lines.count + lines.count / 40 + 2)
        let from = Array("From ".utf8)
        var atLineStart = true
        var i = 0
        while i < lines.count {
            if atLineStart && lines[i] == 0x46 && lines[i...].starts(with: from) { out.append(0x3E) } // ">"
            out.append(lines[i])
            atLineStart = lines[i] == 0x0A
            i += 1
        }
        if !lines.isEmpty && lines.last != 0x0A { out.append(0x0A) }
        out.append(0x0A)
        return out
    }
}
