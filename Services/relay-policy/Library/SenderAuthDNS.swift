import DNS
import SenderAuth

/// SPF's and DMARC's DNS over Shared/DNS (glibc's resolver, dns.servers, dns.timeout, the TTL
/// cache): a temporary failure stays temporary (temperror, never a reject).
public struct SenderAuthDNS: SenderAuthResolver {
    public let dns: DNSResolver

    public init(_ dns: DNSResolver) {
        self.dns = dns
    }

    public func txt(_ name: String) async throws(DNSLookupError) -> [String] {
        do { return try await dns.txt(name) } catch { throw Self.map(error) }
    }

    public func addresses(_ name: String, v6: Bool) async throws(DNSLookupError) -> [IPAddress] {
        do { return try await dns.addresses(name, family: v6 ? .ipv6 : .ipv4).compactMap { IPAddress($0) } } catch { throw Self.map(error) }
    }

    public func mx(_ name: String) async throws(DNSLookupError) -> [String] {
        do { return try await dns.mx(name).map(\.host) } catch { throw Self.map(error) }
    }

    public func ptr(_ address: IPAddress) async throws(DNSLookupError) -> [String] {
        do { return try await dns.reverse(address.description) } catch { throw Self.map(error) }
    }

    static func map(_ failure: DNSResolver.Failure) -> DNSLookupError {
        switch failure {
        case .nxdomain: .nxdomain
        case let .temporary(why): .temporary(why)
        case let .failed(why): .failed(why)
        }
    }
}
