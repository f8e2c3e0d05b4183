/// What drac-registry's requests and sweeps use: the registry of this host (`DracRegistry`,
/// drac's Berkeley DB file) or the table every host shares (`DracPostgresRegistry`).
/// A lookup answers the expiry of an unexpired entry, or nil ("not authorized"); any error
/// means "cannot say", which relay-policy turns into a 4xx.
public protocol DracBackend: Sendable {
    func lookup(_ address: DracAddress) async throws -> Int64?
    /// Adds or refreshes `address` for the window; the new expiry, durable on return.
    func add(_ address: DracAddress) async throws -> Int64
    /// Removes `address`; whether it was there.
    func delete(_ address: DracAddress) async throws -> Bool
    /// Removes every entry; how many there were.
    func flush() async throws -> Int
    /// Deletes expired entries; how many.
    func sweep() async throws -> Int
    /// Unexpired entries, sorted by address.
    func list() async throws -> [DracRegistry.Entry]
}

extension DracRegistry: DracBackend {}
