import Maildir
import Mbox

/// mbox spools (mailstack import-mbox reads them as root) and what is derived from them.
/// Properties, for the input read as an mbox in every format: messages lie in order inside the
/// file, each after its own `From ` line; unquoting only removes octets (none in mboxcl2); every
/// UIDL is a valid RFC 1939 UIDL that survives a Maildir name; flags are Maildir flags. And the
/// input as one message: written as mboxrd (every `>*From ` line quoted) it reads back whole.
func fuzzMbox(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { raw in
        for format in MboxFormat.allCases {
            guard let spans = try? MboxParser.split(raw, format: format) else { continue }
            var previous = 0
            for span in spans {
                check(span.fromLine.lowerBound >= previous && span.fromLine.upperBound <= span.stored.lowerBound
                      && span.stored.upperBound <= raw.count, "\(format): message \(span.ordinal) out of place")
                check(Array(raw[span.fromLine].prefix(5)) == Array("From ".utf8), "\(format): a message without its From line")
                previous = span.stored.upperBound
                let content = MboxParser.unquoted(raw, span, format: format)
                check(content.count <= span.stored.count, "\(format): unquoting added octets")
                if format == .mboxcl2 { check(content == Array(raw[span.stored]), "mboxcl2 changed a message") }
                let fromLine = UnsafeRawBufferPointer(rebasing: raw[span.fromLine])
                let (uidl, source) = QpopperUIDL.uidl(stored: UnsafeRawBufferPointer(rebasing: raw[span.stored]), fromLine: fromLine)
                check((1...70).contains(uidl.utf8.count) && uidl.utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }, "bad UIDL \(uidl.debugDescription)")
                check(source == .computed ? uidl.utf8.count == 20 : (11...32).contains(uidl.utf8.count), "UIDL length \(uidl.utf8.count) from \(source)")
                check(Maildir.uidl(ofUnique: "1.M0P0Q1.mbox-k-1,S=1,W=1,U=" + Maildir.encodeUIDL(uidl)) == uidl, "UIDL lost in a name")
                _ = FromLineDate.parse(fromLine)
                let flags = MboxMessage(ordinal: span.ordinal, fromLine: Array(fromLine), content: content).maildirFlags
                check(flags.allSatisfy { "DFRST".contains($0) } && flags == String(flags.sorted()), "flags \(flags)")
            }
        }
    }
    // One message through an mboxrd writer and back.
    var message = bytes
    if message.last != 0x0A { message.append(0x0A) }
    var mbox = Array("From fuzz@example.org Wed Dec  2 05:53:22 1992\n".utf8)
    var lineStart = true
    for (i, byte) in message.enumerated() {
        if lineStart {
            var j = i
            while j < message.count && message[j] == UInt8(ascii: ">") { j += 1 }
            if message[j...].starts(with: Array("From ".utf8)) { mbox.append(UInt8(ascii: ">")) }
        }
        mbox.append(byte)
        lineStart = byte == 0x0A
    }
    mbox.append(0x0A)
    mbox.withUnsafeBytes { raw in
        guard let spans = try? MboxParser.split(raw, format: .mboxrd) else { violated("an mboxrd file of one message did not parse") }
        check(spans.count == 1, "one message read as \(spans.count)")
        check(MboxParser.unquoted(raw, spans[0], format: .mboxrd) == message, "a message changed through mboxrd")
    }
}
