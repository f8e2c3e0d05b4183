#if canImport(Glibc)
import Glibc
#endif

/// Dates in RFC 5322 form (`Sun, 29 Nov 2026 11:24:03 +0000`), in the local time zone with its
/// numeric offset, as sendmail's $b macro and Date: fields show them.
public enum RFC5322Date {
    public static func format(_ epoch: Int64) -> String {
        var t = time_t(epoch)
        var parts = tm()
        localtime_r(&t, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S %z", &parts)
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func now() -> String { format(Int64(time(nil))) }
}
