#if canImport(Glibc)
import Glibc
#endif

/// Queue ids: 14 characters of [0-9A-Za-z], the arrival second first (so ids sort roughly by
/// age, as sendmail's do) and 8 random characters after it (unique across restarts without a
/// counter on disk). Safe as file names.
public enum QueueID {
    static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    public static func make(now: Int64 = Int64(time(nil))) -> String {
        var random = SystemRandomNumberGenerator()
        return make(now: now, using: &random)
    }

    /// 62^8: the random part is one number below it, written in base 62 (one draw, so one
    /// getrandom(2) where a draw per character made eight for every message).
    static let randomRange: UInt64 = 218_340_105_584_896

    public static func make<Random: RandomNumberGenerator>(now: Int64, using random: inout Random) -> String {
        var out = [UInt8](repeating: 0, count: 14)
        var t = UInt64(max(0, now))
        for i in stride(from: 5, through: 0, by: -1) {
            out[i] = alphabet[Int(t % 62)]
            t /= 62
        }
        var r = random.next(upperBound: randomRange)
        for i in stride(from: 13, through: 6, by: -1) {
            out[i] = alphabet[Int(r % 62)]
            r /= 62
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func isValid(_ id: String) -> Bool {
        id.utf8.count == 14 && id.utf8.allSatisfy { alphabet.contains($0) }
    }
}
