import Foundation
import MailstackMaps
import Users

/// The passwd-file (pop3's users, relay-policy's mailboxes). Properties: names are not empty
/// and hold no `:`, CR or LF, secrets no CR or LF; schemes are known, crypt schemes hold a
/// crypt(3) hash; errors name lines of the file; the same file with CRLF line ends reads the
/// same.
func fuzzPasswdFile(_ bytes: [UInt8]) {
    let lf = bytes.filter { $0 != 0x0D }
    let text = String(decoding: lf, as: UTF8.self)
    let (users, errors) = PasswdFile.parse(text, file: "passwd")
    let lineCount = lf.filter { $0 == 0x0A }.count + 1
    for (name, user) in users {
        check(name == user.name && !name.isEmpty, "user \(name.debugDescription)")
        check(!name.contains(":") && !containsCRorLF(name) && !containsCRorLF(user.secret), "user \(name.debugDescription) with \(user.secret.debugDescription)")
        check(["CRYPT", "SHA512-CRYPT", "SHA256-CRYPT", "BLF-CRYPT", "MD5-CRYPT", "PLAIN", "CLEARTEXT"].contains(user.scheme), "scheme \(user.scheme)")
        check(user.apopSecret != nil || user.secret.hasPrefix("$"), "a crypt scheme without a crypt(3) hash")
    }
    for error in errors { check((1...lineCount).contains(error.line), "error on line \(error.line) of \(lineCount)") }
    let crlf = String(decoding: lf.flatMap { $0 == 0x0A ? [0x0D, 0x0A] : [$0] }, as: UTF8.self)
    let (crlfUsers, crlfErrors) = PasswdFile.parse(crlf, file: "passwd")
    check(crlfUsers == users, "the file with CRLF line ends reads differently:\n\(users)\n\(crlfUsers)")
    check(crlfErrors.map(\.line) == errors.map(\.line), "the file with CRLF line ends has errors on other lines")
}

/// makemap's text format with the options from the input. Properties: the entries' keys hold
/// no delimiter, are lower case unless -f, end in NUL with -N; no value is empty without -e;
/// no key twice; the entries written as text (as `makemap -u` dumps them) read back the same;
/// written to a hash map and dumped, they come back the same.
func fuzzMakeMap(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let flags = input.byte()
    var options = MakeMap.Options()
    options.foldCase = flags & 1 == 0
    options.nulTerminate = flags & 2 != 0
    options.allowEmptyValue = flags & 4 != 0
    options.replaceDuplicates = flags & 8 != 0
    if flags & 16 != 0 { options.delimiter = input.byte() == 0 ? UInt8(ascii: ":") : UInt8(ascii: "|") }
    let source = input.rest()
    guard let entries = try? MakeMap.parse(source, file: "map", options: options) else { return }
    let isDelimiter = { (b: UInt8) in options.delimiter.map { b == $0 } ?? (b == 0x20 || b == 0x09) }
    var seen = Set<[UInt8]>()
    for entry in entries {
        let key = options.nulTerminate ? Array(entry.key.dropLast()) : entry.key
        let value = options.nulTerminate ? Array(entry.value.dropLast()) : entry.value
        check(!options.nulTerminate || (entry.key.last == 0 && entry.value.last == 0), "-N without NUL")
        check(!key.contains(where: isDelimiter) && !key.contains(0x0A) && !value.contains(0x0A), "key with a delimiter or LF")
        check(!options.foldCase || !key.contains { $0 >= 0x41 && $0 <= 0x5A }, "upper case in a folded key")
        check(options.allowEmptyValue || !value.isEmpty, "empty value without -e")
        check(seen.insert(entry.key).inserted, "a key twice")
    }
    // The dump's text, with the delimiter the options read.
    let separator = options.delimiter ?? 0x09
    func text(_ entries: [MakeMap.Entry], separator: UInt8 = separator) -> [UInt8] {
        entries.flatMap { entry -> [UInt8] in
            let key = options.nulTerminate ? entry.key.dropLast() : entry.key[...]
            let value = options.nulTerminate ? entry.value.dropLast() : entry.value[...]
            return Array(key) + [separator] + Array(value) + [0x0A]
        }
    }
    // Lines makemap itself cannot read back: a comment key, or (white space delimiting) a value
    // that starts with white space, which the reader takes as part of the separator.
    let readable = entries.filter { entry in
        entry.key.first != UInt8(ascii: "#") && !(entry.key.isEmpty && options.delimiter == nil)
            && (options.delimiter != nil || !(entry.value.first.map(isDelimiter) ?? false))
    }
    var reread = options
    reread.replaceDuplicates = false
    guard let again = try? MakeMap.parse(text(readable), file: "dump", options: reread) else { violated("a dump does not read back") }
    check(again.map(\.key) == readable.map(\.key) && again.map(\.value) == readable.map(\.value), "the text round trip changed the entries")

    let directory = scratchDirectory("makemap")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    do {
        try MakeMap.write(entries, to: directory + "/map", kind: .hash, options: options)
        let dump = try MakeMap.dump(directory + "/map", kind: .hash, options: options)
        let lines = dump.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast()
        let expected = Set(entries.map { text([$0], separator: 0x09).dropLast() }) // -u: a tab
        check(Set(lines.map { Array($0) }) == Set(expected.map { Array($0) }) && lines.count == entries.count, "the map's dump differs from the entries")
    } catch {
        violated("writing or dumping the map failed: \(error)")
    }
}

/// A sendmail class file (virtuser-domains; `makemap --pgsql hash virtuser-domains`).
/// Properties: every member is a non-empty word of the text before a `#` on its line, in lower
/// case, with no blank, line end or `#` in it, listed once; the members written one per line
/// read back as the same list.
func fuzzClassFile(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    let members = ClassFile.members(of: text)
    let words = Set(text.split(whereSeparator: \.isNewline).flatMap { line in
        line.prefix { $0 != "#" }.split(whereSeparator: { $0 == " " || $0 == "\t" }).map { $0.lowercased() }
    })
    for member in members {
        check(!member.isEmpty && member == member.lowercased(), "member \(member.debugDescription) empty or not lower case")
        check(!member.contains { $0 == " " || $0 == "\t" || $0 == "#" || $0.isNewline }, "member \(member.debugDescription) holds a separator")
        check(words.contains(member), "member \(member.debugDescription) is no word of the text")
    }
    check(Set(members).count == members.count, "a member listed twice")
    check(Set(members) == words, "a word of the text is missing")
    check(ClassFile.members(of: members.joined(separator: "\n")) == members, "the members do not read back")
}
