import Testing
@testable import Mbox

@Suite struct MboxParserTests {
    func split(_ text: String, _ format: MboxFormat = .mboxo) throws -> [(from: String, content: String)] {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBytes { raw in
            try MboxParser.split(raw, format: format).map { span in
                (String(decoding: UnsafeRawBufferPointer(rebasing: raw[span.fromLine]), as: UTF8.self),
                 String(decoding: MboxParser.unquoted(raw, span, format: format), as: UTF8.self))
            }
        }
    }

    @Test func separatorsNeedAnEmptyLineBefore() throws {
        let mbox = "From a@x Wed Dec  2 05:53:22 1992\nSubject: one\n\nbody\nFrom the start of a line\n\n"
            + "From b@x Wed Dec  2 05:54:22 1992\nSubject: two\n\nsecond\n\n"
        let messages = try split(mbox)
        #expect(messages.count == 2)
        #expect(messages[0].content == "Subject: one\n\nbody\nFrom the start of a line\n")
        #expect(messages[1].from == "From b@x Wed Dec  2 05:54:22 1992")
        #expect(messages[1].content == "Subject: two\n\nsecond\n")
    }

    @Test func mboxoUnquotesOneLevelOfFromOnly() throws {
        let mbox = "From a@x Wed Dec  2 05:53:22 1992\n\n>From here\n>>From there\n> From not\n\n"
        #expect(try split(mbox, .mboxo)[0].content == "\nFrom here\n>>From there\n> From not\n")
        #expect(try split(mbox, .mboxrd)[0].content == "\nFrom here\n>From there\n> From not\n")
        #expect(try split(mbox, .mboxcl2)[0].content == "\n>From here\n>>From there\n> From not\n")
    }

    @Test func contentLengthDecidesWhenItLandsOnABoundary() throws {
        // mboxcl2: an unquoted From line inside the body, after an empty line.
        let body = "line\n\nFrom inside the body\n"
        let mbox = "From a@x Wed Dec  2 05:53:22 1992\nContent-Length: \(body.utf8.count)\n\n\(body)\n"
            + "From b@x Wed Dec  2 05:53:22 1992\n\nnext\n"
        let messages = try split(mbox, .mboxcl2)
        #expect(messages.count == 2)
        #expect(messages[0].content == "Content-Length: \(body.utf8.count)\n\n\(body)")
        // A wrong length is ignored: the From lines decide.
        let wrong = mbox.replacingOccurrences(of: "Content-Length: \(body.utf8.count)", with: "Content-Length: 3")
        #expect(try split(wrong, .mboxcl2).count == 3)
        // mboxo ignores Content-Length altogether.
        #expect(try split(mbox, .mboxo).count == 3)
    }

    @Test func emptyFileAndGarbage() throws {
        #expect(try split("").isEmpty)
        #expect(throws: MboxParser.Failure.self) { try split("Subject: not an mbox\n") }
    }

    @Test func lastMessageWithoutSeparatorKeepsItsBytes() throws {
        #expect(try split("From a@x Wed Dec  2 05:53:22 1992\nbody\n")[0].content == "body\n")
        #expect(try split("From a@x Wed Dec  2 05:53:22 1992\nbody")[0].content == "body")
    }

    @Test func fromLineDates() {
        let base = 723_275_602 // 1992-12-02 05:53:22 UTC
        #expect(FromLineDate.parse(Array("From user Wed Dec  2 05:53:22 1992".utf8)) == base)
        #expect(FromLineDate.parse(Array("From user Wed Dec  2 05:53 1992".utf8)) == base - 22)
        #expect(FromLineDate.parse(Array("From user Wed Dec  2 05:53:22 1992 -0700".utf8)) == base + 7 * 3600)
        #expect(FromLineDate.parse(Array("From user Wed Dec  2 05:53:22 PST 1992".utf8)) == base)
        #expect(FromLineDate.parse(Array("From user Wed Dec  2 05:53:22 1992 remote from host".utf8)) == base)
        #expect(FromLineDate.parse(Array("From nothing here".utf8)) == nil)
    }

    @Test func flags() {
        func message(_ header: String) -> MboxMessage { MboxMessage(ordinal: 1, fromLine: [], content: Array((header + "\nbody\n").utf8)) }
        #expect(message("Status: RO\n").maildirFlags == "S")
        #expect(message("Status: RO\n").isOld)
        #expect(message("Status: O\n").maildirFlags == "")
        #expect(message("Status: O\n").isOld)
        #expect(!message("Subject: x\n").isOld)
        #expect(message("Status: RO\nX-Status: AF\n").maildirFlags == "FRS")
        #expect(message("Subject: x\n\nStatus: RO\n").maildirFlags == "") // only the header counts
    }
}
