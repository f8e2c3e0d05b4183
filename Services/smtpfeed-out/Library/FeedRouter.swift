#if canImport(Glibc)
import Glibc
#endif
import DNS
import SMTP

/// Where mail for a domain goes: the smart host, else the mailertable route relay-policy gave
/// (`smtp:[host]` means no MX lookup, `:port` optional, `error:` fails), else the domain's MX
/// hosts in preference order (random among equals), else its own A/AAAA (RFC 5321 5.1); a null
/// MX (RFC 7505) is a permanent failure. An MX host that is this host (one of its names) is
/// dropped with every MX of equal or lower preference (RFC 5321 5.1, sendmail's getmxrr): we are
/// a backup MX and send only to better ones; with none left the mail would loop back to us.
struct FeedRouter: Sendable {
    /// A host to try, with its addresses.
    struct Host: Equatable, Sendable {
        var name: String
        var addresses: [String]
        var port: Int
    }

    /// A domain and the route relay-policy gave its recipients: what a destination is found for.
    struct Way: Hashable, Sendable {
        var domain: String
        var route: MailRoute
    }

    enum Destination: Equatable, Sendable {
        case hosts([Host])
        case failed(DeliveryResult)
    }

    let resolver: DNSResolver
    /// outbound.smart_host: "[host]", "[host]:port", "host" (MX lookup), or nil.
    let smartHost: String?
    let defaultPort: Int
    /// This host's names, lowercase ($j and host.local_names).
    var localNames: Set<String> = []
    func destination(for way: Way) async -> Destination {
        if let smartHost, let (host, mx, port) = Self.parse(smartHost) {
            return await hosts(host, mxLookup: mx, port: port ?? defaultPort)
        }
        switch way.route {
        case let .smtp(host, mxLookup, port):
            return await hosts(host, mxLookup: mxLookup, port: port ?? defaultPort)
        case let .error(reply):
            return .failed(DeliveryResult(reply))
        case .mx:
            return await hosts(way.domain, mxLookup: true, port: defaultPort)
        }
    }

    func isLocal(_ record: DNSResolver.MX) -> Bool { isLocal(record.host) }

    func isLocal(_ host: String) -> Bool {
        localNames.contains((host.hasSuffix(".") ? String(host.dropLast()) : host).lowercased())
    }

    /// sendmail's words for mail that would come back to this host.
    static func loopsBack(_ host: String) -> Destination {
        .failed(DeliveryResult(code: 553, enhanced: "5.3.5", text: "\(host) config error: mail loops back to me (MX problem?)"))
    }

    static func isAddress(_ text: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    /// "[host]:port" -> (host, false, port); "host" -> (host, true, nil).
    static func parse(_ text: String) -> (String, Bool, Int?)? {
        guard !text.isEmpty else { return nil }
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            return (host, false, rest.hasPrefix(":") ? Int(rest.dropFirst()) : nil)
        }
        return (text, true, nil)
    }

    func hosts(_ name: String, mxLookup: Bool, port: Int) async -> Destination {
        var names = [name]
        if mxLookup {
            do {
                let records = try await resolver.mx(name)
                if records.count == 1, records[0].host == "" || records[0].host == "." {
                    return .failed(DeliveryResult(code: 556, enhanced: "5.1.10", text: "Domain \(name) does not accept mail (null MX)"))
                }
                if !records.isEmpty { names = records.map(\.host) }
                if let ours = records.first(where: isLocal) {
                    names = records.filter { $0.preference < ours.preference }.map(\.host)
                    if names.isEmpty { return Self.loopsBack(ours.host) }
                }
            } catch .nxdomain {
                return .failed(DeliveryResult(code: 550, enhanced: "5.1.2", text: "Host or domain name not found. Name service error for name=\(name) type=MX"))
            } catch {
                return .failed(DeliveryResult(code: 451, enhanced: "4.4.3", text: "Host or domain name lookup failed temporarily for \(name): \(error)"))
            }
        }
        // No MX: the domain's own name is the mail exchanger (RFC 5321 5.1).
        if mxLookup, names == [name], isLocal(name) { return Self.loopsBack(name) }
        var hosts: [Host] = []
        var temporary = false
        for host in names {
            if Self.isAddress(host) {
                hosts.append(Host(name: host, addresses: [host], port: port)) // an address literal
                continue
            }
            do {
                let addresses = try await resolver.addresses(host)
                if !addresses.isEmpty { hosts.append(Host(name: host, addresses: addresses, port: port)) }
            } catch .nxdomain {
                continue
            } catch {
                temporary = true
            }
        }
        if hosts.isEmpty {
            return temporary || mxLookup && names != [name]
                ? .failed(DeliveryResult(code: 451, enhanced: "4.4.3", text: "No address for the mail exchangers of \(name) now"))
                : .failed(DeliveryResult(code: 550, enhanced: "5.1.2", text: "Host or domain name not found. Name service error for name=\(name) type=A"))
        }
        return .hosts(hosts)
    }
}
