#if canImport(Glibc)
import Glibc
#endif

/// The unit per-client limits count by: an IPv4 address as it is, an IPv6 address by its /64
/// prefix. One IPv6 subscriber (or one attacker) usually holds a whole /64 and can use a new
/// address for every connection, so counting single IPv6 addresses would limit nothing.
public enum ClientGroup {
    /// Bits of an IPv6 address that name one client.
    public static let ipv6PrefixLength = 64

    /// `192.0.2.1` -> `192.0.2.1`; `2001:db8:1:2:a:b:c:d` -> `2001:db8:1:2::/64`; anything
    /// that is not an address (a test's "unknown") as it is.
    public static func key(for address: String) -> String {
        guard address.contains(":") else { return address }
        var raw = in6_addr()
        guard inet_pton(AF_INET6, address, &raw) == 1 else { return address }
        withUnsafeMutableBytes(of: &raw) { bytes in
            for index in (ipv6PrefixLength / 8)..<16 { bytes[index] = 0 }
        }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count)) != nil else { return address }
        return String(cString: text) + "/\(ipv6PrefixLength)"
    }
}
