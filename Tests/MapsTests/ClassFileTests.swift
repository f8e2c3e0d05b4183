import MailstackMaps
import Testing

/// sendmail's class files (virtuser-domains) as bytes: words up to `#`, blanks and tabs apart,
/// LF or CRLF line ends, lower case, each member once.
@Suite("class files")
struct ClassFileTests {
    @Test("the seed's virtuser-domains, comments, tabs, CRLF, repeats and a word glued to a #")
    func members() {
        let text = String(decoding: Array("# ours\r\nDomain1.COM\tdomain2.tv # two\r\n\n  domain1.com#x\n\u{C4}.example\n".utf8), as: UTF8.self)
        #expect(ClassFile.members(of: text) == ["domain1.com", "domain2.tv", "\u{E4}.example"])
        #expect(ClassFile.members(of: "domain1.com\ndomain2.tv\n") == ["domain1.com", "domain2.tv"])
        #expect(ClassFile.members(of: "") == [])
        #expect(ClassFile.members(of: "#only a comment\n \t \n") == [])
        #expect(ClassFile.members(of: "no-final-newline") == ["no-final-newline"])
    }
}
