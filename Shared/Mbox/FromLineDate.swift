#if canImport(Glibc)
import Glibc
#endif

/// The delivery time in an mbox `From ` line, as the forms c-client (and so qpopper) accepts:
/// `From sender Wed Dec  2 05:53:22 1992`, with or without seconds, a zone name or a numeric
/// zone before or after the year, and smail's `remote from host` after it. Epoch seconds, or nil.
public enum FromLineDate {
    static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    public static func parse(_ line: some Collection<UInt8>) -> Int? {
        let text = String(decoding: line.prefix(512), as: UTF8.self)
        let tokens = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard tokens.count >= 5, tokens[0] == "From" else { return nil }
        for k in 1..<(tokens.count - 2) {
            guard let month = months.firstIndex(of: tokens[k].lowercased()),
                  let day = Int(tokens[k + 1]), (1...31).contains(day) else { continue }
            let clock = tokens[k + 2].split(separator: ":").compactMap { Int($0) }
            guard clock.count == 2 || clock.count == 3, (0...23).contains(clock[0]), (0...59).contains(clock[1]) else { continue }
            var year: Int?
            var offset = 0
            for token in tokens[(k + 3)...].prefix(3) {
                if year == nil, token.count == 4, let y = Int(token), (1970...9999).contains(y) { year = y }
                else if token.count == 5, token.first == "+" || token.first == "-", let hhmm = Int(token.dropFirst()) {
                    offset = (hhmm / 100 * 3600 + hhmm % 100 * 60) * (token.first == "-" ? -1 : 1)
                }
            }
            guard let year else { return nil }
            var parts = tm()
            parts.tm_year = Int32(year - 1900)
            parts.tm_mon = Int32(month)
            parts.tm_mday = Int32(day)
            parts.tm_hour = Int32(clock[0])
            parts.tm_min = Int32(clock[1])
            parts.tm_sec = Int32(clock.count == 3 ? min(clock[2], 60) : 0)
            return Int(timegm(&parts)) - offset
        }
        return nil
    }
}
