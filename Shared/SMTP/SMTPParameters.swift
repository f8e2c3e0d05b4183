/// The ESMTP parameters of MAIL FROM and RCPT TO (RFC 5321 section 4.1.2 and the extensions
/// smtp-in offers), as pure functions from `SMTPPath.parameters` to values or to the reply a
/// bad one gets. No sockets, no session: smtp-in applies the results.
///
///     Mail-parameters = esmtp-param *(SP esmtp-param)      ; RFC 5321 4.1.2
///     esmtp-param     = esmtp-keyword ["=" esmtp-value]
///
/// A parameter that is malformed gets a 501; one we do not offer (or any, after HELO rather than
/// EHLO) a 555 (RFC 5321 4.1.1.11). Both are the client's error, counted as bad commands.
public struct SMTPParameterError: Error, Equatable, Sendable {
    public let reply: SMTPReply
    init(_ code: Int, _ enhanced: String, _ text: String) { reply = SMTPReply(code, enhanced, text) }

    static func unrecognized(_ keyword: String) -> SMTPParameterError {
        SMTPParameterError(555, "5.5.4", "\(keyword.prefix(20)) parameter unrecognized")
    }
}

/// BODY= (RFC 6152 8BITMIME).
///
///     body-value = "7BIT" / "8BITMIME"
public enum SMTPBodyType: String, Sendable, Equatable, CaseIterable {
    case sevenBit = "7BIT"
    case eightBitMIME = "8BITMIME"
}

/// RET= (RFC 3461 section 4.3): what a failure DSN returns of the message.
///
///     ret-value = "FULL" / "HDRS"
public enum DSNReturn: String, Sendable, Equatable, CaseIterable {
    case full = "FULL"
    case headers = "HDRS"
}

/// NOTIFY= (RFC 3461 section 4.1), with the bit values the IPC schema and the spool carry.
///
///     notify-esmtp-value = "NEVER" / 1#notify-list-element
///     notify-list-element = "SUCCESS" / "FAILURE" / "DELAY"
public struct DSNNotify: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let success = DSNNotify(rawValue: 1)
    public static let failure = DSNNotify(rawValue: 2)
    public static let delay = DSNNotify(rawValue: 4)
    public static let never = DSNNotify(rawValue: 8)

    /// Nil for anything but NEVER alone or a list of the other three.
    public init?(parsing value: String) {
        let words = value.uppercased().split(separator: ",", omittingEmptySubsequences: false)
        if words == ["NEVER"] {
            self = .never
            return
        }
        var set: DSNNotify = []
        for word in words {
            switch word {
            case "SUCCESS": set.insert(.success)
            case "FAILURE": set.insert(.failure)
            case "DELAY": set.insert(.delay)
            default: return nil
            }
        }
        self = set
    }

    /// The parameter's value as sent on (`NEVER`, `SUCCESS,FAILURE`); nil for the empty set
    /// (no NOTIFY given).
    public var esmtpValue: String? {
        if contains(.never) { return "NEVER" }
        let words = [(DSNNotify.success, "SUCCESS"), (.failure, "FAILURE"), (.delay, "DELAY")].filter { contains($0.0) }.map(\.1)
        return words.isEmpty ? nil : words.joined(separator: ",")
    }

    /// Whether a notification of `kind` is wanted (RFC 3461 4.1: without NOTIFY, failures and
    /// delays are reported, successes are not; NEVER reports nothing).
    public func wants(_ kind: DSNNotify) -> Bool {
        if isEmpty { return kind == .failure || kind == .delay }
        return !contains(.never) && contains(kind)
    }
}

/// MAIL FROM's parameters.
public struct MailParameters: Sendable, Equatable {
    /// SIZE= (RFC 1870); 0 when not given.
    public var size: UInt64 = 0
    public var body: SMTPBodyType?
    /// SMTPUTF8 (RFC 6531).
    public var smtputf8 = false
    public var ret: DSNReturn?
    /// ENVID= decoded (RFC 3461 4.4); empty when not given.
    public var envid = ""

    public init() {}

    /// Longest ENVID once decoded (RFC 3461 4.4: at most 100 characters).
    public static let maxEnvid = 100

    ///     size-value  = 1*20DIGIT                                   ; RFC 1870
    ///     envid-value = xtext                                       ; RFC 3461 4.4, printable US-ASCII decoded
    ///     auth-value  = xtext                                       ; RFC 4954 5: accepted, not trusted
    public static func parse(_ parameters: [(keyword: String, value: String?)], esmtp: Bool) throws(SMTPParameterError) -> MailParameters {
        var out = MailParameters()
        for (keyword, value) in parameters {
            guard esmtp else { throw .unrecognized(keyword) }
            switch (keyword, value) {
            case let ("SIZE", value?):
                guard value.count <= 20, let size = UInt64(value) else { throw SMTPParameterError(501, "5.5.4", "Syntax error in SIZE parameter") }
                out.size = size
            case let ("BODY", value?):
                guard let body = SMTPBodyType(rawValue: value.uppercased()) else {
                    throw SMTPParameterError(501, "5.5.4", "Unknown BODY type \(value.prefix(20))")
                }
                out.body = body
            case ("SMTPUTF8", nil):
                out.smtputf8 = true
            case let ("RET", value?):
                guard let ret = DSNReturn(rawValue: value.uppercased()) else {
                    throw SMTPParameterError(501, "5.5.4", "Bad argument \"\(value.prefix(20))\" to RET")
                }
                out.ret = ret
            case let ("ENVID", value?):
                // Printable US-ASCII once decoded: no CR/LF/NUL can reach a DSN's header.
                guard let envid = XText.decode(value), envid.utf8.count <= maxEnvid,
                      envid.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else {
                    throw SMTPParameterError(501, "5.5.4", "Syntax error in ENVID parameter value")
                }
                out.envid = envid
            case ("AUTH", _?):
                break
            default:
                throw .unrecognized(keyword)
            }
        }
        return out
    }
}

/// RCPT TO's parameters.
public struct RcptParameters: Sendable, Equatable {
    public var notify: DSNNotify?
    /// ORCPT= as `addr-type;decoded-address` (RFC 3461 4.2); nil when not given.
    public var orcpt: String?

    public init() {}

    /// Longest ORCPT address once decoded.
    public static let maxOrcpt = 500

    ///     orcpt-parameter = "ORCPT=" addr-type ";" xtext            ; RFC 3461 4.2
    ///     addr-type       = atom                                    ; here: letters, digits, "-"
    public static func parse(_ parameters: [(keyword: String, value: String?)], esmtp: Bool) throws(SMTPParameterError) -> RcptParameters {
        var out = RcptParameters()
        for (keyword, value) in parameters {
            guard esmtp else { throw .unrecognized(keyword) }
            switch (keyword, value) {
            case let ("NOTIFY", value?):
                guard let notify = DSNNotify(parsing: value) else {
                    throw SMTPParameterError(501, "5.5.4", "Bad argument \"\(value.prefix(30))\" to NOTIFY")
                }
                out.notify = notify
            case let ("ORCPT", value?):
                // Never a control character: the address reaches a DSN's Original-Recipient: field.
                guard let semicolon = value.firstIndex(of: ";"), case let type = value[..<semicolon], !type.isEmpty,
                      type.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }),
                      let address = XText.decode(String(value[value.index(after: semicolon)...])),
                      address.utf8.count <= maxOrcpt, !address.containsControlCharacter else {
                    throw SMTPParameterError(501, "5.5.4", "Syntax error in ORCPT parameter value")
                }
                out.orcpt = type + ";" + address
            default:
                throw .unrecognized(keyword)
            }
        }
        return out
    }
}
