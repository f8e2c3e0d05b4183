import QueueService
import SMTP

/// Message octets as smtp-in hands them to the queue: CRLF lines (it refuses bare CR and LF),
/// ending with CRLF unless empty.
func crlfMessage(_ bytes: [UInt8]) -> [UInt8] {
    guard !bytes.isEmpty else { return [] }
    var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
    if bytes.last == 0x0A { lines.removeLast() }
    return lines.flatMap { $0.filter { $0 != 0x0D } + [0x0D, 0x0A] }
}

/// The queue's header rewriter (masquerading, Date:, Message-ID:) on a header section cut as
/// the queue cuts it. Properties: the output is CRLF lines; rewriting it again changes nothing
/// (every field added once, masquerading done once); the Message-ID it reports (logged as
/// msgid=) holds no CR or LF; a section with Date: and Message-ID: and no address of the
/// host's names is passed on unchanged; the envelope sender is left alone or masqueraded.
func fuzzHeaderRewriter(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let rewriter = HeaderRewriter(masqueradeAs: input.bool() ? "domain.com" : nil,
                                  masqueradeDomains: ["host.domain.com", "host", "localhost"],
                                  masqueradeEnvelope: true, hostname: "host.domain.com")
    let sender = input.string()
    let masqueraded = rewriter.envelopeSender(sender)
    check(masqueraded == sender || (rewriter.masqueradeAs != nil && masqueraded.hasSuffix("@domain.com")), "envelope sender \(sender.debugDescription) -> \(masqueraded.debugDescription)")
    let message = crlfMessage(input.rest())
    let section = HeaderRewriter.endOfHeader(message).map { Array(message[..<$0]) } ?? message
    guard section.count <= HeaderRewriter.maxHeaderSection else { return }
    let (out, messageID) = rewriter.rewrite(section, id: "0ABCDEFGHIJKLM", now: 1_700_000_000)
    check(hasOnlyCRLF(out), "rewritten header with a bare CR or LF")
    check(!containsCRorLF(messageID), "Message-ID with CR or LF: \(messageID.debugDescription)")
    let (again, againID) = rewriter.rewrite(out, id: "0ABCDEFGHIJKLM", now: 1_700_000_100)
    check(again == out && againID == messageID, "rewriting twice changes the header:\n\(String(decoding: out, as: UTF8.self).debugDescription)\n\(String(decoding: again, as: UTF8.self).debugDescription)")
    let text = String(decoding: section, as: UTF8.self).lowercased()
    let hasFields = (text.hasPrefix("date:") || text.contains("\r\ndate:")) && (text.hasPrefix("message-id:") || text.contains("\r\nmessage-id:"))
    if hasFields && rewriter.masqueradeAs == nil {
        check(out == section, "a complete header was changed")
    }
}

/// DSNs (failure, delay, success) with envelope fields, recipients and diagnostics from the
/// input (anything a peer could put there). Properties: the report is CRLF lines, and it has as
/// many lines as the same report with every field replaced by a plain word: no field can add a
/// line, a header field or a MIME part.
func fuzzDSN(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let original = makeEnvelope(&input)
    let kind: DeliveryReport.Kind
    switch input.int(below: 3) {
    case 0: kind = .failure
    case 1: kind = .delay(warnAfter: .seconds(input.int(below: 1 << 16) * 60), returnAfter: .seconds(input.int(below: 1 << 16) * 3600))
    default: kind = .success
    }
    var entries: [DeliveryReport.Entry] = []
    for recipient in original.recipients.prefix(4) {
        entries.append(.init(recipient: recipient, action: input.pick(["failed", "delayed", "delivered", "relayed", input.string()]),
                             status: input.string(), diagnostic: input.string(), remoteMTA: input.string()))
    }
    let to = input.string()
    let message = crlfMessage(input.rest())
    let report = DeliveryReport(kind: kind, hostname: "host.domain.com", original: original, entries: entries)
    let text = report.message(to: to, id: "0ABCDEFGHIJKLM", now: 1_700_000_000, originalMessage: message)
    check(hasOnlyCRLF(text), "DSN with a bare CR or LF")

    func plain(_ s: String) -> String { s.isEmpty ? "" : "x" }
    var tame = original
    (tame.sender, tame.envid, tame.clientAddress, tame.clientName, tame.helo) =
        (plain(tame.sender), plain(tame.envid), plain(tame.clientAddress), plain(tame.clientName), plain(tame.helo))
    tame.recipients = tame.recipients.map { .init(address: plain($0.address), notify: $0.notify, orcpt: plain($0.orcpt)) }
    let tameEntries = entries.map {
        DeliveryReport.Entry(recipient: .init(address: plain($0.recipient.address), notify: $0.recipient.notify, orcpt: plain($0.recipient.orcpt)),
                             action: ["failed", "delayed", "delivered", "relayed"].contains($0.action) ? $0.action : plain($0.action),
                             status: plain($0.status), diagnostic: plain($0.diagnostic), remoteMTA: plain($0.remoteMTA))
    }
    let tameText = DeliveryReport(kind: kind, hostname: "host.domain.com", original: tame, entries: tameEntries)
        .message(to: plain(to), id: "0ABCDEFGHIJKLM", now: 1_700_000_000, originalMessage: message)
    let lines = { (bytes: [UInt8]) in bytes.filter { $0 == 0x0A }.count }
    check(lines(text) == lines(tameText), "a field added \(lines(text) - lines(tameText)) lines to the DSN")
}
