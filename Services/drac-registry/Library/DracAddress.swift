#if canImport(Glibc)
import Glibc
#endif

/// A client address in the registry's canonical text form, the key of drac's database:
/// IPv4 as a dotted quad ("192.0.2.7"); IPv6 in RFC 5952 form as inet_ntop(3) writes it
/// (lower case, longest zero run compressed: "2001:db8::7"); an IPv4-mapped IPv6 address
/// ("::ffff:192.0.2.7", as a dual-stack socket reports IPv4 clients) as its IPv4 address, so a
/// client is one key however it connected.
public struct DracAddress: Hashable, Sendable, CustomStringConvertible {
    public let text: String

    public init?(_ input: String) {
        var trimmed = Substring(input)
        if trimmed.hasPrefix("IPv6:") { trimmed = trimmed.dropFirst(5) }
        if trimmed.hasPrefix("["), trimmed.hasSuffix("]") { trimmed = trimmed.dropFirst().dropLast() }
        var v4 = in_addr()
        if inet_pton(AF_INET, String(trimmed), &v4) == 1 {
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            inet_ntop(AF_INET, &v4, &buffer, socklen_t(buffer.count))
            text = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, String(trimmed), &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
            text = bytes[12...].map(String.init).joined(separator: ".")
            return
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        inet_ntop(AF_INET6, &v6, &buffer, socklen_t(buffer.count))
        text = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    public var isIPv6: Bool { text.contains(":") }
    public var description: String { text }
}
