import QueueService
import SendmailCommand
import SMTP

/// sendmail -t: the recipients of a message's To:, Cc:, Bcc: (or Resent-*) fields and the message
/// without its Bcc:. Properties: every address is non-empty, holds no control character or
/// blank and none of `<>(),;:` outside quoted strings and domain literals, and comes once
/// (case-insensitively); each address alone in a To: field reads back as itself; the message
/// out has the same header fields but Bcc: and Resent-Bcc:, is the input with exactly those
/// fields' octets removed, and names no recipient the input did not (unless a Resent-Bcc:
/// was the only resent field); without CR in the input, CRLF line ends give the same recipients.
func fuzzSendmailRecipients(_ bytes: [UInt8]) {
    guard let extracted = try? HeaderRecipients.extract(bytes), let fields = try? HeaderRecipients.fields(bytes) else { return }
    var seen = Set<String>()
    for address in extracted.recipients {
        check(!address.isEmpty, "an empty address")
        check(seen.insert(address.lowercased()).inserted, "\(address.debugDescription) twice")
        check(outsideQuotes(address).allSatisfy { $0 > 0x20 && $0 != 0x7F && !Array("<>(),;:".utf8).contains($0) },
              "a blank, control or special character outside quotes in \(address.debugDescription)")
        check(!address.utf8.contains { $0 < 0x20 || $0 == 0x7F }, "a control character in \(address.debugDescription)")
        let again = (try? HeaderRecipients.extract(Array("To: \(address)\n\n".utf8)))?.recipients
        check(again == [address], "\(address.debugDescription) reads back as \(again.debugDescription)")
    }
    let bcc: Set<String> = ["bcc", "resent-bcc"]
    guard let outFields = try? HeaderRecipients.fields(extracted.message) else { violated("the message out has no header") }
    check(outFields.map(\.name) == fields.map(\.name).filter { !bcc.contains($0) }, "fields out \(outFields.map(\.name)) of \(fields.map(\.name))")
    let removed = fields.filter { bcc.contains($0.name) }.reduce(0) { $0 + $1.range.count }
    check(extracted.message.count == bytes.count - removed, "the message out is not the input less its Bcc: fields")
    let end = fields.last?.range.upperBound ?? 0
    check(extracted.message.suffix(bytes.count - end).elementsEqual(bytes[end...]), "the body changed")
    if !fields.contains(where: { $0.name == "resent-bcc" }), let out = try? HeaderRecipients.extract(extracted.message) {
        check(Set(out.recipients).isSubset(of: Set(extracted.recipients)), "recipients appeared when Bcc: was removed")
    }
    if !bytes.contains(0x0D) {
        let crlf = bytes.flatMap { $0 == 0x0A ? [0x0D, 0x0A] : [$0] }
        let recipients = (try? HeaderRecipients.extract(crlf))?.recipients
        check(recipients == nil || recipients == extracted.recipients, "CRLF line ends found \(recipients.debugDescription)")
    }
}

/// The octets of an address outside quoted strings and domain literals, as AddressList reads them.
func outsideQuotes(_ address: String) -> [UInt8] {
    var out: [UInt8] = []
    var quoted = false, escaped = false, literal = false
    for byte in address.utf8 {
        if quoted {
            if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { quoted = false }
        } else if literal {
            if byte == UInt8(ascii: "]") { literal = false }
        } else if byte == UInt8(ascii: "\"") {
            quoted = true
        } else if byte == UInt8(ascii: "[") {
            literal = true
        } else {
            out.append(byte)
        }
    }
    return out
}

/// The queue's normalizer of local submissions. Properties: the output is CRLF lines only;
/// drip-fed input gives the same octets as whole input; the trace prefix comes first; the
/// header section ends with a blank line before any body octet and has a From: (added only when
/// the message had none); the user's octets are counted (one octet less of limit refuses the
/// message with tooLarge).
func fuzzLocalMessage(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let sizes = input.field()
    let message = input.rest()
    let prefix = Array("Received: (from nobody@localhost)\r\n\tby host id X; date\r\n".utf8)
    let fromA = Array("From: nobody@domain.com\r\n".utf8), fromB = Array("From: Other <other@domain.com>\r\n".utf8)
    func run(_ pieces: [[UInt8]], from: [UInt8], limit: Int = 1 << 20) -> Result<(out: [UInt8], size: Int), LocalMessageNormalizer.Failure> {
        var normalizer = LocalMessageNormalizer(prefix: prefix, from: from, limit: limit, maxHeader: 4096)
        var out: [UInt8] = []
        do {
            for piece in pieces { out += try normalizer.feed(piece) }
            out += try normalizer.finish()
            return .success((out, normalizer.size))
        } catch {
            return .failure(error)
        }
    }
    let whole = run([message], from: fromA)
    check(run(chunks(message, sizes: sizes), from: fromA).map(\.out) == whole.map(\.out), "drip-fed input normalized differently")
    guard case let .success((out, size)) = whole, case let .success((other, _)) = run([message], from: fromB) else { return }
    check(hasOnlyCRLF(out), "a bare CR or LF in the output")
    check(out.starts(with: prefix), "the trace fields are not first")
    guard let blank = HeaderRewriter.endOfHeader(out) else { violated("no blank line ends the header") }
    if out == other {
        // Not added: the message has a From: of its own.
        let fields = (try? HeaderRecipients.fields(Array(out[..<blank]))) ?? []
        check(fields.contains { $0.name == "from" }, "no From: in the header")
    } else {
        // Added, last before the blank line, to a header without one.
        let at = blank - 2 - fromA.count
        check(at >= prefix.count && out[at..<(blank - 2)].elementsEqual(fromA), "From: not added before the blank line")
        let fields = (try? HeaderRecipients.fields(Array(out[prefix.count..<at]) + [0x0D, 0x0A])) ?? []
        check(!fields.contains { $0.name == "from" }, "From: added to a header that had one")
        check(other.elementsEqual(out[..<at] + fromB + out[(blank - 2)...]), "the added From: is not all that differs")
    }
    check(size <= out.count - prefix.count, "more user octets counted than written")
    if size > 0 {
        guard case .failure(.tooLarge) = run([message], from: fromA, limit: size - 1) else { violated("a message over the limit was taken") }
    }
}
