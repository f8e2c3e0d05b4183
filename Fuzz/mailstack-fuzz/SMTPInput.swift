import NIOCore
import NIOEmbedded
import SMTP
import SMTPInService

/// smtp-in's input decoder with its mode switches, driven as the session drives it: after a
/// group ending in DATA the session accepts (354, data mode) or refuses (back to commands), as
/// the input says; STARTTLS ends the plaintext conversation. The input is fed whole and in
/// pieces whose sizes come from the input.
///
/// Properties: command lines hold no CR or LF and fit `maxCommandLine` with their CRLF; only
/// the last line of a group may be DATA or STARTTLS; nothing comes out while input is held or
/// awaiting TLS, nor after a bare newline; message data without an over-long line is CRLF lines
/// of at most `maxTextLine` octets; data ends only in data mode; the split of the input changes
/// nothing (but whether an over-long line ended by a bare newline is also reported too long).
func fuzzSMTPInput(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let limits = input.byte()
    let maxCommandLine = limits & 0x80 == 0 ? 512 : 16 + Int(limits & 0x3F)
    let maxTextLine = limits & 0x40 == 0 ? 1000 : 8 + Int(limits & 0x1F)
    let sizes = input.field()
    let decisions = input.field()
    let stream = input.rest()
    let whole = SMTPInputRun(maxCommandLine: maxCommandLine, maxTextLine: maxTextLine, decisions: decisions)
    whole.feed([stream])
    let split = SMTPInputRun(maxCommandLine: maxCommandLine, maxTextLine: maxTextLine, decisions: decisions)
    split.feed(chunks(stream, sizes: sizes.isEmpty ? [1] : sizes))
    // An over-long line is reported as soon as it is over the limit; when it then ends in a bare
    // newline, the whole input reports only that, a drip-fed one both (the connection closes).
    var dripped = split.events
    if whole.events != dripped, dripped.suffix(2) == ["<too long>", "<bareNewline>"] { dripped.remove(at: dripped.count - 2) }
    check(whole.events == dripped, "the split changes the output:\n\(whole.events)\n\(split.events)")
}

final class SMTPInputRun {
    let mode = SMTPInputMode()
    let channel: EmbeddedChannel
    let maxCommandLine: Int
    let maxTextLine: Int
    let decisions: [UInt8]
    var dataCommands = 0
    /// What came out, flattened: command lines, "<data:...>" per message, markers.
    var events: [String] = []
    var message: [UInt8] = []
    var finished = false
    /// The session accepted DATA and the data has not ended yet.
    var inData = false

    init(maxCommandLine: Int, maxTextLine: Int, decisions: [UInt8]) {
        self.maxCommandLine = maxCommandLine
        self.maxTextLine = maxTextLine
        self.decisions = decisions
        channel = EmbeddedChannel(handler: ByteToMessageHandler(SMTPInputDecoder(mode: mode, maxCommandLine: maxCommandLine, maxTextLine: maxTextLine)))
    }

    func feed(_ pieces: [[UInt8]]) {
        for piece in pieces where !finished {
            do { try channel.writeInbound(ByteBuffer(bytes: piece)) } catch { violated("decoder threw \(error)") }
            drain()
        }
        _ = try? channel.finish()
    }

    func drain() {
        while let item = try! channel.readInbound(as: SMTPInput.self) {
            check(!finished, "output after the conversation ended: \(item)")
            let modeBefore = mode.mode
            switch item {
            case let .commands(lines):
                check(!lines.isEmpty, "an empty group")
                check(!inData, "commands inside the data")
                for (i, line) in lines.enumerated() {
                    check(!containsCRorLF(line), "command line with CR or LF: \(line.debugDescription)")
                    check(line.unicodeScalars.count + 2 <= maxCommandLine, "command line over \(maxCommandLine) octets")
                    check(i == lines.count - 1 || !SMTPCommandLine(line).endsPipelinedGroup, "DATA/STARTTLS inside a group")
                    events.append(line)
                }
                let last = SMTPCommandLine(lines.last!)
                if last.endsPipelinedGroup {
                    check(modeBefore == .held || modeBefore == .awaitingTLS, "no hold after \(last.verb)")
                    check(try! channel.readInbound(as: SMTPInput.self) == nil, "output while held")
                    if last.verb == "STARTTLS" {
                        finished = true // what follows is TLS
                        return
                    }
                    let accept = decisions.isEmpty || decisions[dataCommands % decisions.count] & 1 == 0
                    dataCommands += 1
                    events.append(accept ? "<354>" : "<503>")
                    mode.set(accept ? .data : .command)
                    inData = accept
                    message = []
                    try! channel.writeInbound(ByteBuffer()) // the read gate's release
                }
            case .commandTooLong:
                events.append("<too long>")
            case .bareNewline, .overflow:
                events.append("<\(item)>")
                check(mode.mode == .discard, "not discarding after \(item)")
                finished = true
            case let .data(buffer):
                check(inData, "data outside data mode")
                message += buffer.readableBytesView
            case let .dataEnd(lineTooLong):
                check(inData, "end of data outside data mode")
                inData = false
                if !lineTooLong {
                    check(hasOnlyCRLF(message), "message data with a bare CR or LF")
                    for line in message.split(separator: 0x0A) {
                        check(line.count + 1 <= maxTextLine, "text line over \(maxTextLine) octets without lineTooLong")
                    }
                }
                events.append("<data \(lineTooLong) \(message)>")
                message = []
            }
        }
    }
}
