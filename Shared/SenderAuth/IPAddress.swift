#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address as its octets (4 or 16), for SPF's ip4/ip6/a/mx matching and the
/// %{i} macro. `unmapped` turns an IPv4-mapped IPv6 client (::ffff:a.b.c.d) into its IPv4 address.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    public let octets: [UInt8]

    public var isV6: Bool { octets.count == 16 }

    public init?(_ text: some StringProtocol) {
        let text = String(text)
        guard text.utf8.count <= 64, !text.utf8.contains(0) else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            octets = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        octets = withUnsafeBytes(of: &v6) { Array($0) }
    }

    /// An IPv4-mapped IPv6 address as its IPv4 address; any other address as itself.
    public var unmapped: IPAddress {
        guard isV6, octets[0..<10].allSatisfy({ $0 == 0 }), octets[10] == 0xff, octets[11] == 0xff else { return self }
        return IPAddress(octets: Array(octets[12...]))!
    }

    public init?(octets: [UInt8]) {
        guard octets.count == 4 || octets.count == 16 else { return nil }
        self.octets = octets
    }

    /// Whether `self` lies in `network`/`prefix` (same family only).
    public func isIn(_ network: IPAddress, prefix: Int) -> Bool {
        guard network.octets.count == octets.count, prefix >= 0, prefix <= octets.count * 8 else { return false }
        var bits = prefix
        for index in octets.indices where bits > 0 {
            let mask: UInt8 = bits >= 8 ? 0xff : ~(0xff >> UInt8(bits))
            if octets[index] & mask != network.octets[index] & mask { return false }
            bits -= 8
        }
        return true
    }

    /// Dotted quad, or RFC 5952 text.
    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        if isV6 {
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: octets) }
            inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count))
        } else {
            var address = in_addr()
            withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: octets) }
            inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count))
        }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// The %{i} macro's form: dotted octets, or dotted nibbles for IPv6 (RFC 7208 7.3).
    public var macroText: String {
        if !isV6 { return octets.map(String.init).joined(separator: ".") }
        return octets.flatMap { [String($0 >> 4, radix: 16), String($0 & 0xf, radix: 16)] }.joined(separator: ".")
    }
}
