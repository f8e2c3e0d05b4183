#if canImport(Glibc)
import Glibc
#endif

/// sendmail's {client_resolve} for a connecting client: reverse-resolve the address, then
/// forward-confirm the name. The result type lives with the caller (relay-policy); this is the
/// lookup part.
public enum ClientResolution: Equatable, Sendable {
    case ok(name: String)
    case fail
    case forged(name: String)
    case temp
}

extension DNSResolver {
    /// OK when a PTR name resolves back to the address; FAIL when there is no PTR; FORGED when
    /// no PTR name resolves back; TEMP when any lookup could not be answered now. `validity`
    /// learns until when the answers it took hold.
    public func resolveClient(_ address: String, validity: DNSValidity? = nil) async -> ClientResolution {
        let names: [String]
        do {
            names = try await reverse(address, validity: validity)
        } catch .nxdomain {
            return .fail
        } catch .temporary {
            return .temp
        } catch {
            return .fail
        }
        guard let first = names.first else { return .fail }
        let canonical = DNSResolver.canonicalAddress(address)
        // Only the client's own family can confirm it: one query per name, not two.
        let family: Family = address.contains(":") ? .ipv6 : .ipv4
        var temporary = false
        for name in names {
            do {
                if try await addresses(name, family: family, validity: validity).map(DNSResolver.canonicalAddress).contains(canonical) {
                    return .ok(name: name.lowercased())
                }
            } catch .temporary {
                temporary = true
            } catch {
                continue
            }
        }
        return temporary ? .temp : .forged(name: first.lowercased())
    }

    static func canonicalAddress(_ text: String) -> String {
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return addressText(withUnsafeBytes(of: &v6) { Array($0) }, v6: true) }
        return text
    }
}
