import Foundation
import Testing
import TestSupport

/// Every fuzz target's seed corpus (Fuzz/corpus/<target>) and every input that once broke it
/// (Fuzz/regressions/<target>) replayed through `mailstack-fuzz TARGET ...` of this build: a
/// property that stops holding fails here, without the fuzzer build. (scripts/test.sh also runs
/// each target under libFuzzer for a few seconds; scripts/fuzz.sh runs them long.)
@Suite("fuzz corpora and regressions replayed", .serialized)
struct FuzzReplayTests {
    static let fuzz = TestSupport.binary("mailstack-fuzz")
    static let root = TestSupport.packageRoot + "/Fuzz"

    static var targets: [String] {
        let listing = (try? TestSupport.run([fuzz, "--list"]).stdout) ?? ""
        return listing.split(separator: "\n").map(String.init)
    }

    @Test("every target has a seed corpus")
    func everyTargetHasSeeds() throws {
        let targets = Self.targets
        #expect(targets.count >= 20)
        for target in targets {
            let seeds = (try? FileManager.default.contentsOfDirectory(atPath: "\(Self.root)/corpus/\(target)")) ?? []
            #expect(!seeds.isEmpty, "no seeds in Fuzz/corpus/\(target)")
        }
    }

    @Test("corpus and regressions replay without a property violation", arguments: targets)
    func replay(target: String) async throws {
        var paths = ["\(Self.root)/corpus/\(target)"]
        let regressions = "\(Self.root)/regressions/\(target)"
        if FileManager.default.fileExists(atPath: regressions) { paths.append(regressions) }
        let result = try await TestSupport.runAsync([Self.fuzz, target] + paths)
        #expect(result.status == 0, "\(target): \(result.stdout.split(separator: "\n").last ?? "")\n\(result.stderr)")
        #expect(result.stdout.contains("replayed"))
    }
}
