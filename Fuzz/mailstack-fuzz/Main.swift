// mailstack-fuzz: libFuzzer targets for every parser that reads outside input, and a replay
// tool for their corpora.
//
//     mailstack-fuzz --list                      the targets, one a line
//     mailstack-fuzz TARGET FILE|DIR...          replay: each file through TARGET (normal build)
//     mailstack-fuzz TARGET [libFuzzer flags] [CORPUS...]   fuzz (built with -DFUZZING and
//                                                 -sanitize=fuzzer,address; scripts/fuzz.sh)
//
// The target may also be named by MAILSTACK_FUZZ_TARGET. Every target checks properties (round
// trips, limits, no CR/LF where a line is handed on) and stops the process with a fatalError on
// a violation, which libFuzzer reports as a crash and the replay as a failed run.
#if canImport(Glibc)
import Glibc
#endif
import Foundation

@main
struct MailstackFuzz {
    static func main() {
        var arguments = CommandLine.arguments
        if arguments.count > 1, arguments[1] == "--list" {
            print(FuzzTargets.all.keys.sorted().joined(separator: "\n"))
            return
        }
        var name = ProcessInfo.processInfo.environment["MAILSTACK_FUZZ_TARGET"]
        if arguments.count > 1, FuzzTargets.all[arguments[1]] != nil {
            name = arguments.remove(at: 1)
        }
        guard let name, let target = FuzzTargets.all[name] else {
            FileHandle.standardError.write(Data("usage: mailstack-fuzz TARGET FILE|DIR... (targets: mailstack-fuzz --list)\n".utf8))
            exit(64)
        }
        FuzzTargets.selected = target
        #if FUZZING
        exit(runLibFuzzer(arguments))
        #else
        exit(replay(target, paths: Array(arguments.dropFirst())))
        #endif
    }

    /// Runs every file (a directory: every file in it, sorted) through `target`. A property
    /// violation stops the process (after the file's name was printed).
    static func replay(_ target: FuzzTarget, paths: [String]) -> Int32 {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                FileHandle.standardError.write(Data("mailstack-fuzz: \(path): no such file\n".utf8))
                return 66
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.filter { !$0.hasPrefix(".") }.sorted().map { path + "/" + $0 }
            } else {
                files.append(path)
            }
        }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                FileHandle.standardError.write(Data("mailstack-fuzz: \(file): cannot read\n".utf8))
                return 66
            }
            FileHandle.standardOutput.write(Data("replay \(file)\n".utf8))
            target(Array(data))
        }
        print("replayed \(files.count) files")
        return 0
    }
}

#if FUZZING
/// libFuzzer's own driver (in libclang_rt.fuzzer, linked by -sanitize=fuzzer): this executable
/// keeps its Swift `main`, which hands the remaining arguments to libFuzzer.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

func runLibFuzzer(_ arguments: [String]) -> Int32 {
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    var argc = Int32(arguments.count)
    return argv.withUnsafeMutableBufferPointer { buffer in
        var base = buffer.baseAddress!
        return LLVMFuzzerRunDriver(&argc, &base, fuzzTestOneInput)
    }
}

/// libFuzzer's entry point (also under this name, for drivers that call it directly).
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    FuzzTargets.selected?(bytes)
    return 0
}
#endif
