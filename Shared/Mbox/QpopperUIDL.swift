import Crypto

/// The UIDL qpopper 4 gave a message, so POP3 clients that "leave mail on the server" see the
/// same UIDLs after the move and download nothing twice. Read from qpopper's source
/// (popper/pop_dropcopy.c, pop_updt.c, pop_uidl.c):
///
/// * qpopper answers UIDL with the value of the message's first `X-UIDL:` field when it has 11
///   to 32 characters (after the colon and any blanks); it writes that field into the spool
///   when it updates the mailbox at the end of a session (with `update-status-headers`, its
///   default), so every message a client has listed in a finished session carries one.
/// * A message without one gets an MD5 over its `From ` line, the header lines (the first 1023
///   octets of each, as its fgets reads them) that start with `Received:`, `Date:`,
///   `Message-Id:` or `Subject:`, and the `From ` line again, written in qpopper's base-80
///   alphabet (20 characters, `.` replaced by `~`); with `old-style-uid` the second `From ` line
///   is left out and the digest is written in hex. With `update-status-headers` off these
///   UIDLs were never written and are recomputed every session: we compute the same. (With it
///   on, qpopper also hashed a per-session counter, so such a UIDL was never stable: nothing to
///   preserve.)
/// * A message whose X-UIDL qpopper would have sent but RFC 1939 forbids (a character outside
///   0x21-0x7E) gets the computed UIDL instead.
public enum QpopperUIDL {
    public enum Source: String, Sendable { case header = "x-uidl", computed }

    /// `stored` is the message as in the spool (quoted), `fromLine` its separator without newline.
    public static func uidl(stored: some Collection<UInt8>, fromLine: some Collection<UInt8>, oldStyle: Bool = false) -> (uidl: String, source: Source) {
        var md5 = Insecure.MD5()
        let from = Array(fromLine) + [0x0A]
        md5.update(data: from)
        for chunk in headerChunks(Array(stored)) {
            if hasASCIIPrefix(chunk, "x-uidl:") {
                var value = chunk.dropFirst(7).drop { $0 == 0x20 || $0 == 0x09 }
                while let last = value.last, last == 0x0A || last == 0x0D { value = value.dropLast() }
                if (11...32).contains(value.count), value.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) {
                    return (String(decoding: value, as: UTF8.self), .header)
                }
            } else if ["received:", "date:", "message-id:", "subject:"].contains(where: { hasASCIIPrefix(chunk, $0) }) {
                md5.update(data: chunk)
            }
        }
        if !oldStyle { md5.update(data: from) }
        let digest = Array(md5.finalize())
        return (oldStyle ? hex(digest) : base80(digest), .computed)
    }

    /// The header as qpopper reads it: lines of at most 1023 octets (a longer line goes on as
    /// further pieces), up to the empty line.
    static func headerChunks(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var chunks: [ArraySlice<UInt8>] = []
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && end - start < 1023 {
                end += 1
                if bytes[end - 1] == 0x0A { break }
            }
            let chunk = bytes[start..<end]
            if chunk.first == 0x0A { break }
            chunks.append(chunk)
            start = end
        }
        return chunks
    }

    /// qpopper's base80(): four digest octets at a time, each shifted in by FOUR bits (sic), as
    /// five characters from 0x21, least significant first, `.` written as `~`.
    static func base80(_ digest: [UInt8]) -> String {
        var out: [UInt8] = []
        var i = 0
        while i < 16 {
            var v: UInt64 = 0
            repeat {
                v = (v << 4) + UInt64(digest[i])
                i += 1
            } while i % 4 != 0
            for _ in 0..<5 {
                let j = v % 80
                v = (v - j) / 80
                let c = UInt8(0x21 + j)
                out.append(c == UInt8(ascii: ".") ? UInt8(ascii: "~") : c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hex(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: digest.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
    }
}
