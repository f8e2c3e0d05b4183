#if canImport(Glibc)
import Glibc
#endif
import Files

/// The Public Suffix List (https://publicsuffix.org/list/, Debian's `publicsuffix` package) for
/// DMARC's organizational domain (RFC 7489 3.2): the registrable domain, one label below the
/// longest public suffix. Parsed by itself, bounded: a file over `maxFileSize`, more than
/// `maxRules` rules or a rule over 253 octets is refused; rules in Unicode (IDN) are skipped,
/// their A-label domains then fall back to the default rule "*" (the TLD is the suffix).
public struct PublicSuffixList: Sendable {
    public static let debianPath = "/usr/share/publicsuffix/public_suffix_list.dat"
    public static let maxFileSize = 8 << 20
    public static let maxRules = 200_000

    var rules: Set<String> = []
    var wildcards: Set<String> = []
    var exceptions: Set<String> = []

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init(text: String) throws(Failure) {
        var count = 0
        var lineNumber = 0
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            guard let token = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).first,
                  !token.hasPrefix("//") else { continue }
            guard token.allSatisfy(\.isASCII) else { continue }
            var rule = token.lowercased()
            guard rule.utf8.count <= 253 else { throw Failure(description: "line \(lineNumber): rule longer than 253 octets") }
            count += 1
            guard count <= Self.maxRules else { throw Failure(description: "more than \(Self.maxRules) rules") }
            if rule.hasPrefix("!") {
                exceptions.insert(String(rule.dropFirst()))
            } else if rule.hasPrefix("*.") {
                rule.removeFirst(2)
                wildcards.insert(rule)
            } else {
                rules.insert(rule)
            }
        }
    }

    /// Reads the list from a file (Debian's by default).
    public static func load(path: String = debianPath) throws(Failure) -> PublicSuffixList {
        let text: String
        do {
            text = try BoundedFile.text(path, limit: maxFileSize)
        } catch {
            throw Failure(description: error.description)
        }
        do {
            return try PublicSuffixList(text: text)
        } catch {
            throw Failure(description: "\(path): \(error.description)")
        }
    }

    /// The organizational domain of a name (lower case, without a final dot): the public
    /// suffix and one more label; a name that is itself a public suffix is its own.
    public func organizationalDomain(_ name: String) -> String {
        var name = name.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard labels.count > 1 else { return name }
        func suffix(from index: Int) -> String { labels[index...].joined(separator: ".") }
        // The index where the public suffix starts (default rule "*": the last label).
        var start = labels.count - 1
        if let exception = labels.indices.first(where: { exceptions.contains(suffix(from: $0)) }) {
            start = exception + 1
        } else if let longest = labels.indices.first(where: { index in
            rules.contains(suffix(from: index)) || (index + 1 < labels.count && wildcards.contains(suffix(from: index + 1)))
        }) {
            start = longest
        }
        return start == 0 ? name : suffix(from: start - 1)
    }
}
