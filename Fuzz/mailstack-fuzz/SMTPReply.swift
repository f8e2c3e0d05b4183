import Foundation
import NIOCore
import NIOEmbedded
import SMTP
import SMTPFeedService
import Users

/// smtpfeed-out's reply decoder on a remote server's output, fed whole and in pieces.
///
/// Properties: every reply has a code from 200 to 599, at most 200 lines, no CR or LF in any
/// line (the text reaches logs, the queue's last error and DSNs), an enhanced code of the
/// reply's class when there is one; its wire form decodes to the same reply; the split of the
/// input changes nothing.
func fuzzSMTPReply(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let sizes = input.field()
    let stream = input.rest()
    let whole = decodeReplies([stream])
    let split = decodeReplies(chunks(stream, sizes: sizes.isEmpty ? [1] : sizes))
    check(whole.replies == split.replies && whole.failed == split.failed, "the split changes the replies")
    for reply in whole.replies {
        check((200...599).contains(reply.code), "reply code \(reply.code)")
        check(reply.lines.count <= 200, "reply of \(reply.lines.count) lines")
        for line in reply.lines {
            check(!containsCRorLF(line), "reply line with CR or LF: \(line.debugDescription)")
        }
        check(!containsCRorLF(reply.enhanced), "enhanced code with CR or LF")
        if !reply.enhanced.isEmpty {
            check(reply.enhanced.hasPrefix(String(reply.code / 100) + "."), "enhanced code \(reply.enhanced) in a \(reply.code) reply")
        }
        let again = decodeReplies([Array(reply.wire.utf8)])
        check(again.replies == [reply] && !again.failed, "wire round trip: \(reply) -> \(again.replies)")
    }
}

func decodeReplies(_ pieces: [[UInt8]]) -> (replies: [SMTPReply], failed: Bool) {
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(SMTPReplyDecoder()))
    var replies: [SMTPReply] = []
    var failed = false
    for piece in pieces {
        do {
            try channel.writeInbound(ByteBuffer(bytes: piece))
        } catch {
            failed = true
        }
        while let reply = try? channel.readInbound(as: SMTPReply.self) { replies.append(reply) }
        if failed { break }
    }
    _ = try? channel.finish()
    return (replies, failed)
}

/// SASL PLAIN (smtp-in's submission AUTH and pop3's AUTH) on any base64 text and on any
/// user/password pair. Properties: a decoded user is not empty and holds no control character;
/// an authorization identity is empty or the user; a well-formed response decodes to its parts.
func fuzzSASL(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let response = input.string()
    if let (user, _) = SASL.plain(response) {
        check(SASL.isUserName(user), "SASL PLAIN user \(user.debugDescription)")
    }
    _ = SASL.text(response)
    let user = input.field(), password = input.field(), authzid = input.bool() ? user : []
    let encoded = Data(authzid + [0] + user + [0] + password).base64EncodedString()
    let userText = String(decoding: user, as: UTF8.self), passwordText = String(decoding: password, as: UTF8.self)
    let expectValid = SASL.isUserName(userText) && !user.contains(0) && !password.contains(0)
    let decoded = SASL.plain(encoded)
    if expectValid {
        check(decoded?.user == userText && decoded?.password == passwordText, "SASL PLAIN round trip of \(userText.debugDescription)")
    } else if !user.contains(0) && !password.contains(0) {
        check(decoded == nil, "SASL PLAIN accepted the user \(userText.debugDescription)")
    }
}
