import MailstackMaps

/// How the policy reads a map: a key in, the value or nil out. A `SendmailMap`'s `lookup`
/// for the real files, a dictionary in tests.
public typealias MapLookup = @Sendable (String) throws -> String?
