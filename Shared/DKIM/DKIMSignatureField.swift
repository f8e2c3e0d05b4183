import Foundation

/// A DKIM-Signature field's tags (RFC 6376 3.5), parsed and checked. Values that would make
/// the signature meaningless are refused here, before any key is fetched.
struct DKIMSignatureField {
    /// Limits on what a signature may ask of us.
    static let maxSignedFields = 128
    static let maxSignatureOctets = 1024 // b= of a 4096-bit RSA key is 512

    var algorithmName: String
    var algorithm: DKIMAlgorithm?
    var signature: [UInt8]
    var bodyHash: [UInt8]
    var headerCanonicalization: DKIMCanonicalization
    var bodyCanonicalization: DKIMCanonicalization
    var domain: String
    var selector: String
    var signedFields: [String]
    var bodyLength: Int?
    var timestamp: Int64?
    var expiry: Int64?
    var identityDomain: String?
    /// The first 8 characters of b= (printable).
    var headerB: String

    /// Reads what can be read even when the rest fails (d=, s=, a=, b= for the result).
    static func peek(_ list: DKIMTagList?) -> (domain: String, selector: String, algorithm: String, headerB: String) {
        func clean(_ name: String, stripped: Bool = false) -> String {
            DKIMText.printable(list?.value(name, stripped: stripped)?.lowercased() ?? "", limit: 253)
        }
        let b = DKIMText.printable(String((list?.value("b", stripped: true) ?? "").prefix(8)))
        return (clean("d"), clean("s"), clean("a"), b)
    }

    init(_ list: DKIMTagList) throws(DKIMResult.Failure) {
        func need(_ name: String, stripped: Bool = false) throws(DKIMResult.Failure) -> String {
            guard let value = list.value(name, stripped: stripped), !value.isEmpty else { throw .init(.neutral, "no \(name)= tag") }
            return value
        }
        guard try need("v") == "1" else { throw .init(.neutral, "v= is not 1") }
        algorithmName = try need("a").lowercased()
        algorithm = DKIMAlgorithm(rawValue: algorithmName)
        headerB = String((list.value("b", stripped: true) ?? "").prefix(8))
        guard let b = Data(base64Encoded: try need("b", stripped: true)), (1...Self.maxSignatureOctets).contains(b.count) else {
            throw .init(.neutral, "b= is not base64 of a signature")
        }
        signature = Array(b)
        guard let bh = Data(base64Encoded: try need("bh", stripped: true)) else { throw .init(.neutral, "bh= is not base64") }
        bodyHash = Array(bh)
        guard let c = DKIMCanonicalization.pair(list.value("c", stripped: true) ?? "simple/simple") else {
            throw .init(.neutral, "unknown canonicalization c=")
        }
        (headerCanonicalization, bodyCanonicalization) = c
        domain = try need("d").lowercased()
        selector = try need("s").lowercased()
        guard DKIMText.isDomainName(domain), DKIMText.isDomainName(selector) else { throw .init(.neutral, "d= or s= is not a domain name") }
        signedFields = try need("h", stripped: true).split(separator: ":", omittingEmptySubsequences: false).map { $0.lowercased() }
        guard signedFields.count <= Self.maxSignedFields, signedFields.allSatisfy({ !$0.isEmpty }) else {
            throw .init(.neutral, "h= is not a list of at most \(Self.maxSignedFields) field names")
        }
        guard signedFields.contains("from") else { throw .init(.neutral, "From is not signed") }
        if let q = list.value("q", stripped: true), !q.lowercased().split(separator: ":").contains("dns/txt") {
            throw .init(.neutral, "q= does not offer dns/txt")
        }
        func number(_ name: String) throws(DKIMResult.Failure) -> Int64? {
            guard let text = list.value(name) else { return nil }
            guard (1...12).contains(text.count), text.utf8.allSatisfy(DKIMText.isDigit), let n = Int64(text) else {
                throw .init(.neutral, "\(name)= is not a number")
            }
            return n
        }
        bodyLength = try number("l").map { Int($0) }
        timestamp = try number("t")
        expiry = try number("x")
        if let t = timestamp, let x = expiry, x < t { throw .init(.neutral, "x= is before t=") }
        if let i = list.value("i") {
            guard let at = i.lastIndex(of: "@") else { throw .init(.neutral, "i= has no @") }
            let id = i[i.index(after: at)...].lowercased()
            guard id == domain || id.hasSuffix("." + domain) else { throw .init(.neutral, "i= is not within d=") }
            identityDomain = id
        }
    }
}
