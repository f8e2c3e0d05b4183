import DKIM
import Foundation
import NIOCore

/// DKIM signing of outbound mail: the signers of our domains, chosen by the From: domain of each
/// message. smtpfeed-out signs a message once per delivery attempt, before it is handed to any
/// transaction, on the octets that go on the wire: after the queue's masquerading and every
/// header it adds, with lines longer than `outbound.max_line` already broken (so breaking them
/// on the way cannot invalidate the signature). Dot-stuffing is undone by the receiver, and
/// nothing else changes the octets (8-bit bodies go as they are: no 7-bit conversion).
public struct FeedSigner: Sendable {
    /// One configured key: d=, s= and its file.
    public struct KeySpec: Sendable, Equatable {
        public var domain: String
        public var selector: String
        public var file: String
        public init(domain: String, selector: String, file: String) {
            self.domain = domain.lowercased()
            self.selector = selector.lowercased()
            self.file = file
        }
    }

    /// Domain -> its signer (one signature per key of the domain).
    let signers: [String: DKIMSigner]

    /// Loads every key file (`DKIMKeyFile.load`: only the owner may read it); the first that
    /// cannot be used is the error, naming the file and why.
    public init(keys: [KeySpec], headers: [String]? = nil,
                clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) throws(DKIMKeyFile.Error) {
        var byDomain: [String: [DKIMSigningKey]] = [:]
        for spec in keys {
            let key = try DKIMKeyFile.load(spec.file)
            byDomain[spec.domain, default: []].append(DKIMSigningKey(domain: spec.domain, selector: spec.selector, key: key))
        }
        signers = byDomain.mapValues { DKIMSigner(keys: $0, headers: headers, clock: clock) }
    }

    /// The configured domains.
    public var domains: [String] { signers.keys.sorted() }

    /// The signer for mail from `domain`: its own, or its closest parent's (From: a@host.example.com
    /// is signed d=example.com, which DMARC's relaxed alignment accepts).
    func signer(for domain: String) -> DKIMSigner? {
        var name = Substring(domain)
        while !name.isEmpty {
            if let signer = signers[String(name)] { return signer }
            guard let dot = name.firstIndex(of: ".") else { return nil }
            name = name[name.index(after: dot)...]
        }
        return nil
    }

    public enum Outcome: Sendable, Equatable {
        /// No key for the From: domain (or no single From: address): sent as it is.
        case notOurs
        /// Signed: the message to send, and d=, s= and a= of each signature for the log.
        case signed(ByteBuffer, [String])
        /// A key is configured but signing failed: the message must not leave unsigned. Permanent
        /// when the message itself cannot be signed (more header fields than verifiers read).
        case failed(String, permanent: Bool)
    }

    /// `message` (CRLF lines, not dot-stuffed) signed for its From: domain, with lines longer
    /// than `maxLine` broken first, as they will be sent.
    public func sign(_ message: ByteBuffer, maxLine: Int) -> Outcome {
        let broken = Feed.brokenLines(message, maxLine: maxLine) ?? message
        let octets = Array(broken.readableBytesView)
        let parsed = DKIMMessage(octets)
        // Past DKIMMessage.maxFields the From: may be among the fields not read: such a message
        // cannot be told ours or not, and could not be signed anyway; it is refused, not sent
        // unsigned.
        if parsed.fields.count >= DKIMMessage.maxFields - 10 {
            return .failed("\(parsed.fields.count) or more header fields: too many to sign", permanent: true)
        }
        guard let domain = parsed.fromDomain, let signer = signer(for: domain) else { return .notOurs }
        do {
            var out = ByteBuffer(bytes: try signer.signatureFields(for: octets))
            out.writeBytes(broken.readableBytesView)
            return .signed(out, signer.keys.map { "d=\($0.domain) s=\($0.selector) a=\($0.key.algorithm.rawValue)" })
        } catch let error as DKIMSigner.Error {
            return .failed("\(error)", permanent: true)
        } catch {
            return .failed("\(error)", permanent: false)
        }
    }
}

extension Feed {
    /// `body` with lines longer than `maxLine` octets broken as `dotStuffed` breaks them (CRLF
    /// after each `maxLine` octets), or nil when no line is that long.
    static func brokenLines(_ body: ByteBuffer, maxLine: Int) -> ByteBuffer? {
        let view = body.readableBytesView
        var start = view.startIndex
        var out: ByteBuffer?
        var copied = view.startIndex // octets before this are in `out` already
        while start < view.endIndex {
            let lf = view[start...].firstIndex(of: 0x0A)
            let end = lf.map { $0 + 1 } ?? view.endIndex
            var content = end - start - (lf == nil ? 0 : 1)
            if content > 0 && lf != nil && view[end - 2] == 0x0D { content -= 1 }
            if content > maxLine {
                if out == nil { out = ByteBuffer(); out!.reserveCapacity(body.readableBytes + body.readableBytes / 64) }
                out!.writeBytes(view[copied..<start])
                var offset = start
                var remaining = content
                while remaining > maxLine {
                    out!.writeBytes(view[offset..<(offset + maxLine)])
                    out!.writeString("\r\n")
                    offset += maxLine
                    remaining -= maxLine
                }
                out!.writeBytes(view[offset..<end])
                copied = end
            }
            start = end
        }
        guard var result = out else { return nil }
        result.writeBytes(view[copied...])
        return result
    }
}
