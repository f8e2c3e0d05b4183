import Foundation
import NIOCore
import Testing
import TestSupport

/// How many event loops each service process runs (`Daemon.chooseEventLoopCount`): half the
/// cores, at least one; NIO_SINGLETON_GROUP_LOOP_COUNT in a service's environment decides
/// instead. Counted as the kernel sees them: the threads of NIO's singleton group.
@Suite("event loops per service")
struct EventLoopCountTests {
    @Test("every service runs half the cores' event loops, at least one; NIO_SINGLETON_GROUP_LOOP_COUNT overrides it")
    func loopsPerService() async throws {
        let expected = max(1, System.coreCount / 2)
        let stack = try await StackHarness()
        #expect(stack.processes.count == StackHarness.allServices.count)
        for (service, process) in stack.processes {
            #expect(Self.loopThreads(process.pid) == expected, "\(service): \(Self.threadNames(process.pid))")
        }
        // The same service with the variable set: NIO's own reading of it is left alone.
        try await stack.stop("drac-registry")
        let process = try DaemonProcess("drac-registry", arguments: stack.settings.flatMap { ["--set", $0] },
                                        stderrPath: stack.dir + "/drac-override.log",
                                        wrapper: ["/usr/bin/env", "NIO_SINGLETON_GROUP_LOOP_COUNT=3"])
        try await TestSupport.eventually(timeout: .seconds(90)) { process.stderr.contains("drac-registry ready") || process.exitStatus != nil }
        #expect(process.exitStatus == nil, "\(process.stderr.suffix(2000))")
        #expect(Self.loopThreads(process.pid) == 3, "\(Self.threadNames(process.pid))")
        #expect(try await process.stop() == 0)
        _ = try await stack.stopAll()
    }

    /// The names of a process's threads (/proc/PID/task/TID/comm).
    static func threadNames(_ pid: pid_t) -> [String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.compactMap { try? String(contentsOfFile: "/proc/\(pid)/task/\($0)/comm", encoding: .utf8) }
            .map { $0.trimmingCharacters(in: .newlines) }.sorted()
    }

    /// Its event loop threads: NIO names those of its singleton group NIO-SGLTN-<group>-#<n>.
    static func loopThreads(_ pid: pid_t) -> Int {
        threadNames(pid).filter { $0.hasPrefix("NIO-SGLTN-") }.count
    }
}
