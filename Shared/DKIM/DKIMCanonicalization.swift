import Crypto
import Foundation

/// The two canonicalisation algorithms of RFC 6376 3.4, for the header and for the body.
public enum DKIMCanonicalization: String, Sendable, Equatable {
    case simple
    case relaxed

    /// c= as header/body: "relaxed/relaxed", "simple" (= simple/simple), "relaxed" (=
    /// relaxed/simple). Nil for anything else.
    static func pair(_ text: String) -> (header: Self, body: Self)? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), let header = Self(rawValue: parts[0].lowercased()) else { return nil }
        guard parts.count == 2 else { return (header, .simple) }
        guard let body = Self(rawValue: parts[1].lowercased()) else { return nil }
        return (header, body)
    }

    /// A header field canonicalised (3.4.1, 3.4.2), with its final CRLF.
    func header(_ field: DKIMMessage.Field) -> [UInt8] {
        switch self {
        case .simple: return field.raw
        case .relaxed:
            var out = Array(field.name.lowercased().utf8)
            out.append(UInt8(ascii: ":"))
            out += Self.relaxedValue(field.value)
            out += [0x0D, 0x0A]
            return out
        }
    }

    /// Unfolded, runs of WSP as one SP, none at either end.
    static func relaxedValue(_ value: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(value.count)
        var space = false
        for c in value where c != 0x0D && c != 0x0A {
            if DKIMText.isWSP(c) {
                space = true
            } else {
                if space && !out.isEmpty { out.append(0x20) }
                space = false
                out.append(c)
            }
        }
        return out
    }

    /// The SHA-256 of the body canonicalised (3.4.3, 3.4.4), of at most `limit` octets of it
    /// (the l= tag of signatures we verify; we never sign with it).
    func bodyHash(_ body: ArraySlice<UInt8>, limit: Int? = nil) -> SHA256.Digest {
        var sink = BodySink(limit: limit)
        var pendingEmpty = 0 // empty lines held back: trailing ones are dropped
        var line: [UInt8] = []
        var start = body.startIndex
        while start < body.endIndex {
            let lf = body[start...].firstIndex(of: 0x0A)
            var end = lf ?? body.endIndex
            if lf != nil, end > start, body[end - 1] == 0x0D { end -= 1 }
            let content = body[start..<end]
            start = (lf ?? body.endIndex) + (lf == nil ? 0 : 1)
            switch self {
            case .simple:
                if content.isEmpty { pendingEmpty += 1; continue }
                sink.emptyLines(pendingEmpty)
                pendingEmpty = 0
                sink.write(content)
            case .relaxed:
                line.removeAll(keepingCapacity: true)
                var space = false
                for c in content {
                    if DKIMText.isWSP(c) { space = true; continue }
                    if space { line.append(0x20) }
                    space = false
                    line.append(c)
                }
                if line.isEmpty { pendingEmpty += 1; continue }
                sink.emptyLines(pendingEmpty)
                pendingEmpty = 0
                sink.write(line[...])
            }
            sink.write([0x0D, 0x0A][...])
        }
        // An empty body is one CRLF in simple, nothing in relaxed.
        if self == .simple && sink.written == 0 { sink.write([0x0D, 0x0A][...]) }
        return sink.finish()
    }
}

/// The canonical body on its way into SHA-256, cut at the l= limit, in chunks.
struct BodySink {
    var hasher = SHA256()
    var limit: Int?
    var written = 0
    var chunk: [UInt8] = []

    init(limit: Int?) {
        self.limit = limit
        chunk.reserveCapacity(64 * 1024)
    }

    mutating func emptyLines(_ count: Int) {
        for _ in 0..<count { write([0x0D, 0x0A][...]) }
    }

    mutating func write(_ octets: ArraySlice<UInt8>) {
        var octets = octets
        if let limit {
            let room = max(0, limit - written)
            if octets.count > room { octets = octets.prefix(room) }
        }
        written += octets.count
        chunk += octets
        if chunk.count >= 64 * 1024 {
            hasher.update(data: chunk)
            chunk.removeAll(keepingCapacity: true)
        }
    }

    mutating func finish() -> SHA256.Digest {
        hasher.update(data: chunk)
        return hasher.finalize()
    }
}

extension DKIMCanonicalization {
    /// The base64 body hash of `body` (for tests and tools: what bh= would say).
    public static func testBodyHash(_ body: [UInt8], _ canonicalization: Self) -> String {
        Data(canonicalization.bodyHash(body[...])).base64EncodedString()
    }
}
