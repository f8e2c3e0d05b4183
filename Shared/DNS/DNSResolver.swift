import CResolv
#if canImport(Glibc)
import Glibc
#endif
import NIOPosix
import Synchronization
import Timing

/// A DNS client over glibc's resolver, on NIO's thread pool (res_nquery blocks), with its own
/// servers and ports (dns.servers, for tests and for sites whose resolver is local), a deadline
/// per query, and a cache that keeps answers for their TTL (and negative answers for a minute).
///
/// Temporary failures (SERVFAIL, timeouts, unreachable servers) are `temporary`, never
/// `nxdomain`: a resolver that is down must not turn into permanent rejections.
public final class DNSResolver: Sendable {
    public enum Failure: Error, Equatable, Sendable {
        /// The name does not exist.
        case nxdomain
        /// Try again later.
        case temporary(String)
        /// A permanent error other than NXDOMAIN (REFUSED, FORMERR, a malformed answer).
        case failed(String)
    }

    public struct Server: Sendable, Equatable {
        public var address: String
        public var port: Int
        public init(address: String, port: Int = 53) {
            self.address = address
            self.port = port
        }

        /// "127.0.0.1" or "127.0.0.1:5353".
        public init?(_ text: String) {
            let parts = text.split(separator: ":")
            guard parts.count <= 2, let first = parts.first else { return nil }
            var v4 = in_addr()
            guard inet_pton(AF_INET, String(first), &v4) == 1 else { return nil }
            address = String(first)
            port = parts.count == 2 ? (Int(parts[1]) ?? 0) : 53
            guard (1...65535).contains(port) else { return nil }
        }
    }

    public struct MX: Equatable, Sendable {
        public var preference: Int
        public var host: String
    }

    let servers: [Server]
    let timeout: Duration
    let attempts: Int
    let pool: NIOThreadPool
    let cache = Mutex([CacheKey: CacheEntry]())

    struct CacheKey: Hashable {
        var name: String
        var type: Int32
    }

    struct CacheEntry {
        var records: Result<[Record], Failure>
        var expires: ContinuousClock.Instant
    }

    struct Record: Equatable {
        var ttl: UInt32
        var preference: Int
        var data: [UInt8]
        var text: String
    }

    /// Negative answers (NXDOMAIN, NODATA) are cached this long; temporary failures never.
    static let negativeTTL: Duration = .seconds(60)
    static let maxCacheEntries = 100_000

    public init(servers: [Server] = [], timeout: Duration = .seconds(5), attempts: Int = 2,
                pool: NIOThreadPool = .singleton) {
        self.servers = servers
        self.timeout = timeout
        self.attempts = attempts
        self.pool = pool
    }

    // MARK: queries

    /// PTR names of an IPv4 or IPv6 address.
    public func reverse(_ address: String, validity: DNSValidity? = nil) async throws(Failure) -> [String] {
        guard let name = Self.reverseName(address) else { throw .failed("not an address: \(address)") }
        return try await query(name, type: Int32(ns_t_ptr.rawValue), validity: validity).map(\.text)
    }

    public enum Family: Sendable {
        case ipv4, ipv6, both
    }

    /// A and/or AAAA addresses of a name (as text), A first.
    public func addresses(_ name: String, family: Family = .both, validity: DNSValidity? = nil) async throws(Failure) -> [String] {
        var result: [String] = []
        var temporary: Failure?
        var found = false
        let types: [ns_type] = family == .ipv4 ? [ns_t_a] : family == .ipv6 ? [ns_t_aaaa] : [ns_t_a, ns_t_aaaa]
        for type in types {
            do {
                let records = try await query(name, type: Int32(type.rawValue), validity: validity)
                found = true
                result += records.map { Self.addressText($0.data, v6: type == ns_t_aaaa) }
            } catch .nxdomain {
                throw .nxdomain
            } catch {
                if case .temporary = error { temporary = error }
            }
        }
        if !found, let temporary { throw temporary }
        return result
    }

    /// MX records, by preference (equal preferences in random order, RFC 5321 section 5.1).
    public func mx(_ domain: String) async throws(Failure) -> [MX] {
        try await query(domain, type: Int32(ns_t_mx.rawValue))
            .map { MX(preference: $0.preference, host: $0.text.lowercased()) }
            .shuffled()
            .sorted { $0.preference < $1.preference }
    }

    /// TXT records, each as its character-strings concatenated (RFC 7208 3.3: how SPF, DKIM keys
    /// and DMARC records are read). Octets that are not UTF-8 become U+FFFD.
    public func txt(_ name: String) async throws(Failure) -> [String] {
        try await query(name, type: Int32(ns_t_txt.rawValue)).map(\.text)
    }

    /// One question, from the cache while its answer's TTL lasts. `validity` learns until when
    /// the answer holds (an answer not kept, such as a temporary failure, holds no longer than now).
    func query(_ name: String, type: Int32, validity: DNSValidity? = nil) async throws(Failure) -> [Record] {
        let key = CacheKey(name: name.lowercased(), type: type)
        let now = ContinuousClock.now
        if let entry = cache.withLock({ $0[key] }), entry.expires > now {
            validity?.note(entry.expires)
            return try entry.records.get()
        }
        let servers = self.servers
        let (seconds, _) = timeout.components
        let attempts = self.attempts
        let outcome: Result<[Record], Failure>
        do {
            outcome = try await pool.runIfActiveHere { Self.run(name, type: type, servers: servers, timeout: Int(max(1, seconds)), attempts: attempts) }
        } catch {
            validity?.note(now)
            throw .temporary("resolver unavailable: \(error)")
        }
        let ttl: Duration
        switch outcome {
        case let .success(records): ttl = .seconds(Int(records.map(\.ttl).min() ?? 60))
        case .failure(.nxdomain): ttl = Self.negativeTTL
        case .failure: ttl = .zero
        }
        validity?.note(now + ttl)
        if ttl > .zero {
            cache.withLock { map in
                if map.count >= Self.maxCacheEntries { map.removeAll(keepingCapacity: true) }
                map[key] = CacheEntry(records: outcome, expires: now + ttl)
            }
        }
        return try outcome.get()
    }

    static func run(_ name: String, type: Int32, servers: [Server], timeout: Int, attempts: Int) -> Result<[Record], Failure> {
        var answer = [UInt8](repeating: 0, count: 65536)
        var length = Int32(answer.count)
        let addresses = servers.map { strdup($0.address) }
        defer { addresses.forEach { free($0) } }
        let ports = servers.map { Int32($0.port) }
        let status: Int32 = addresses.map { $0.map { UnsafePointer<CChar>($0) } }.withUnsafeBufferPointer { serverPointers in
            ports.withUnsafeBufferPointer { portPointer in
                ms_dns_query(name, type, serverPointers.baseAddress, portPointer.baseAddress, Int32(servers.count),
                             Int32(timeout), Int32(attempts), &answer, &length)
            }
        }
        switch Int(status) {
        case Int(MS_DNS_OK): break
        case Int(MS_DNS_NXDOMAIN): return .failure(.nxdomain)
        case Int(MS_DNS_NODATA): return .success([])
        case Int(MS_DNS_TEMP): return .failure(.temporary("no answer for \(name)"))
        default: return .failure(.failed("lookup of \(name) failed"))
        }
        let count = ms_dns_answer_count(answer, length)
        guard count >= 0 else { return .failure(.failed("malformed answer for \(name)")) }
        var records: [Record] = []
        var out = [CChar](repeating: 0, count: Int(NS_MAXDNAME) + 1)
        if type == Int32(ns_t_txt.rawValue) { return txtRecords(answer, length, count: count, name: name) }
        for index in 0..<count {
            var ttl: UInt32 = 0
            var preference: Int32 = 0
            let rc = ms_dns_record(answer, length, index, type, &ttl, &preference, &out, Int32(out.count))
            if rc < 0 { return .failure(.failed("malformed answer for \(name)")) }
            if rc == 0 { continue }
            let data = out.prefix(16).map { UInt8(bitPattern: $0) }
            records.append(Record(ttl: ttl, preference: Int(preference), data: data, text: out.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }))
        }
        return .success(records)
    }

    /// TXT answers: each record's character-strings (a length octet, then that many) joined.
    static func txtRecords(_ answer: [UInt8], _ length: Int32, count: Int32, name: String) -> Result<[Record], Failure> {
        var records: [Record] = []
        var rdata = [UInt8](repeating: 0, count: 65536)
        for index in 0..<count {
            var ttl: UInt32 = 0
            let rc = ms_dns_txt(answer, length, index, &ttl, &rdata, Int32(rdata.count))
            if rc < 0 { return .failure(.failed("malformed TXT answer for \(name)")) }
            if rc == 0 { continue }
            var joined: [UInt8] = []
            var offset = 0
            while offset < Int(rc) {
                let size = Int(rdata[offset])
                guard offset + 1 + size <= Int(rc) else { return .failure(.failed("malformed TXT answer for \(name)")) }
                joined += rdata[(offset + 1)..<(offset + 1 + size)]
                offset += 1 + size
            }
            records.append(Record(ttl: ttl, preference: 0, data: [], text: String(decoding: joined, as: UTF8.self)))
        }
        return .success(records)
    }

    // MARK: names

    /// 7.2.0.192.in-addr.arpa / nibbles.ip6.arpa
    static func reverseName(_ address: String) -> String? {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { $0.reversed().map(String.init).joined(separator: ".") } + ".in-addr.arpa"
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, address, &v6) == 1 else { return nil }
        let nibbles = withUnsafeBytes(of: &v6) { bytes in
            bytes.reversed().flatMap { [String($0 & 0xf, radix: 16), String($0 >> 4, radix: 16)] }
        }
        return nibbles.joined(separator: ".") + ".ip6.arpa"
    }

    static func addressText(_ data: [UInt8], v6: Bool) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        if v6 {
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: data.prefix(16)) }
            inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count))
        } else {
            var address = in_addr()
            withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: data.prefix(4)) }
            inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count))
        }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}

/// Until when a series of DNS answers all hold: the earliest end of their TTLs.
public final class DNSValidity: Sendable {
    private let earliest = Mutex<ContinuousClock.Instant?>(nil)

    public init() {}

    public var until: ContinuousClock.Instant? { earliest.withLock { $0 } }

    func note(_ end: ContinuousClock.Instant) {
        earliest.withLock { $0 = min($0 ?? end, end) }
    }
}
