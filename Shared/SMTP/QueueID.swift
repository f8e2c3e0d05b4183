#if canImport(Glibc)
import Glibc
#endif

/// Queue ids: 14 characters of [0-9A-Za-z], the arrival second first (so ids sort roughly by
/// age, as sendmail's do) and 8 random characters after it (unique across restarts without a
/// counter on disk). Safe as file names.
public enum QueueID {
    static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    public static func make(now: Int64 = Int64(time(nil))) -> String {
        var out = [UInt8]()
        var t = UInt64(max(0, now))
        for _ in 0..<6 {
            out.append(alphabet[Int(t % 62)])
            t /= 62
        }
        out.reverse()
        var random = SystemRandomNumberGenerator()
        for _ in 0..<8 { out.append(alphabet[Int(random.next(upperBound: UInt64(62)))]) }
        return String(decoding: out, as: UTF8.self)
    }

    public static func isValid(_ id: String) -> Bool {
        id.utf8.count == 14 && id.utf8.allSatisfy { alphabet.contains($0) }
    }
}
