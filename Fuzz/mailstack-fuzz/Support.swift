#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Stops the process: a property of the target does not hold for this input.
func violated(_ what: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    fatalError("fuzz property violated: \(what)", file: file, line: line)
}

func check(_ condition: Bool, _ what: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition { violated(what(), file: file, line: line) }
}

/// Reads structure out of the fuzz input: numbers, choices and strings, each from the octets in
/// turn; past the end everything is zero or empty, so every input is a valid structure.
struct FuzzInput {
    var bytes: ArraySlice<UInt8>

    init(_ bytes: [UInt8]) { self.bytes = bytes[...] }

    var isEmpty: Bool { bytes.isEmpty }

    mutating func byte() -> UInt8 { bytes.popFirst() ?? 0 }

    mutating func bool() -> Bool { byte() & 1 == 1 }

    mutating func int(below limit: Int) -> Int { limit <= 1 ? 0 : Int(UInt16(byte()) << 8 | UInt16(byte())) % limit }

    mutating func pick<T>(_ choices: [T]) -> T { choices[int(below: choices.count)] }

    /// Octets up to the next 0xFF (dropped) or the end.
    mutating func field() -> [UInt8] {
        let end = bytes.firstIndex(of: 0xFF) ?? bytes.endIndex
        let out = Array(bytes[..<end])
        bytes = bytes[end...].dropFirst()
        return out
    }

    mutating func string() -> String { String(decoding: field(), as: UTF8.self) }

    /// Everything left.
    mutating func rest() -> [UInt8] {
        defer { bytes = [] }
        return Array(bytes)
    }
}

/// Splits `bytes` into pieces whose sizes come from `sizes` (cycled; 0 counts as 1): the same
/// input fed whole and drip-fed must decode alike.
func chunks(_ bytes: [UInt8], sizes: [UInt8]) -> [[UInt8]] {
    guard !sizes.isEmpty else { return bytes.isEmpty ? [] : [bytes] }
    var out: [[UInt8]] = []
    var start = 0
    var i = 0
    while start < bytes.count {
        let size = max(1, Int(sizes[i % sizes.count]))
        out.append(Array(bytes[start..<min(bytes.count, start + size)]))
        start += size
        i += 1
    }
    return out
}

/// Whether every CR is followed by LF and every LF follows a CR.
func hasOnlyCRLF(_ bytes: some Collection<UInt8>) -> Bool {
    var previous: UInt8 = 0
    var expectLF = false
    for byte in bytes {
        if expectLF, byte != 0x0A { return false }
        if byte == 0x0A, previous != 0x0D { return false }
        expectLF = byte == 0x0D
        previous = byte
    }
    return !expectLF
}

func containsCRorLF(_ text: String) -> Bool { text.utf8.contains { $0 == 0x0D || $0 == 0x0A } }

/// Waits for async work from the synchronous fuzz callback.
final class BlockingResult<T>: @unchecked Sendable { // written before the signal, read after the wait
    var result: Result<T, Error>?
    init() {}
}

func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = BlockingResult<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}

/// A scratch directory for this process (on tmpfs when there is one), emptied for each input.
func scratchDirectory(_ name: String) -> String {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let path = "\(base)/mailstack-fuzz-\(getpid())-\(name)"
    try? FileManager.default.removeItem(atPath: path)
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
