#if canImport(Glibc)
import Glibc
#endif
import LocalDeliveryService
import Testing

/// The message as the local mailers hand it on: LF lines; for files the mbox entry.
@Suite("mbox format")
struct MboxFormatTests {
    @Test("CRLF becomes LF; a CR elsewhere stays", arguments: [
        ("a\r\nb\r\n", "a\nb\n"), ("a\rb\r\n", "a\rb\n"), ("no end", "no end"), ("\r\n\r\n", "\n\n"), ("x\r", "x\r"), ("", ""),
    ])
    func unixLines(crlf: String, lf: String) {
        #expect(MboxFormat.unixLines(Array(crlf.utf8)) == Array(lf.utf8))
    }

    @Test("an entry: From line, Return-Path:, >From quoting at line starts only, a blank line after")
    func entry() {
        let message = Array("Subject: s\r\n\r\nFrom me\r\nnot From here\r\n>From kept\r\nFromage\r\nFrom".utf8)
        let entry = String(decoding: MboxFormat.entry(sender: "a@b", message: message, date: 0), as: UTF8.self)
        let lines = entry.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0] == "From a@b \(MboxFormat.asctime(0))")
        #expect(Array(lines[1...]) == ["Return-Path: <a@b>", "Subject: s", "", ">From me", "not From here", ">From kept", "Fromage", "From", "", ""])
    }

    @Test("asctime's layout: a day of the month under 10 is padded with a space")
    func asctime() {
        var parts = tm()
        parts.tm_year = 126
        parts.tm_mon = 10
        parts.tm_mday = 9
        parts.tm_hour = 8
        parts.tm_min = 5
        parts.tm_sec = 3
        parts.tm_isdst = -1
        #expect(MboxFormat.asctime(mktime(&parts)) == "Mon Nov  9 08:05:03 2026")
        #expect(String(decoding: MboxFormat.fromLine(sender: "", date: mktime(&parts)), as: UTF8.self) == "From MAILER-DAEMON Mon Nov  9 08:05:03 2026\n")
    }
}
