/// What smtp-in does with a message after DMARC (policy.dmarc), as a table:
///
/// | mode        | client may relay | DMARC                              | disposition            |
/// |-------------|------------------|------------------------------------|------------------------|
/// | off         | any              | (not evaluated)                    | accept                 |
/// | report-only | any              | any                                | accept (header only)   |
/// | enforce     | yes              | any                                | accept (header only)   |
/// | enforce     | no               | fail, p=reject, draw < pct         | reject 550 5.7.1       |
/// | enforce     | no               | fail, p=quarantine, draw < pct     | quarantine             |
/// | enforce     | no               | fail, p=reject, draw >= pct        | quarantine (RFC 7489 6.6.4: the next policy down) |
/// | enforce     | no               | fail, p=quarantine, draw >= pct    | accept                 |
/// | enforce     | no               | permerror for several From domains | reject 550 5.7.1       |
/// | enforce     | no               | none, pass, temperror, other       | accept                 |
///
/// `draw` is a number in 0..<100 from an injected random source.
public enum DMARCDisposition: String, Equatable, Sendable {
    case accept, quarantine, reject

    public enum Mode: String, Sendable, CaseIterable {
        case off
        case reportOnly = "report-only"
        case enforce
    }

    public static func decide(mode: Mode, mayRelay: Bool, result: DMARCResult, from: FromDomain, draw: Int) -> DMARCDisposition {
        guard mode == .enforce, !mayRelay else { return .accept }
        if result.kind == .permerror && from.isAmbiguous { return .reject }
        guard result.kind == .fail, let policy = result.policy else { return .accept }
        let applies = draw < (result.record?.percent ?? 100)
        switch policy {
        case .none: return .accept
        case .quarantine: return applies ? .quarantine : .accept
        case .reject: return applies ? .reject : .quarantine
        }
    }
}
