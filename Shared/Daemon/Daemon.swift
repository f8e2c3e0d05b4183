import Accounts
#if canImport(Glibc)
import Glibc
#endif
import IPC
import IPCTransport
import Listeners
import Logging
import MailstackConfig
import MailstackSystemd
import NIOCore
import NIOPosix
import ServiceLifecycle

/// What every mailstack daemon does around its own logic: load the configuration, set up
/// logging, take its sockets from systemd or bind them itself, tell systemd READY once they
/// accept, ping the watchdog, and stop cleanly on SIGTERM/SIGINT (STOPPING=1).
public enum Daemon {
    /// Runs Swift Concurrency's tasks on NIO's event loop threads instead of a second pool of
    /// threads, so a connection's task, its reads and writes, and its IPC requests stop handing
    /// work from one thread to another at every step (each hand-over is a wake-up of another
    /// thread, ~50 µs on this machine). Call first thing in main.swift, on the main thread.
    /// MAILSTACK_CONCURRENCY_POOL=1 keeps Swift's own pool (to compare). NIO finds the runtime's
    /// hook with dlsym; a binary linked with a static Swift runtime (`--static-swift-stdlib`)
    /// has it as a hidden symbol, the takeover fails and every service uses 50-65% more CPU per
    /// message: said on stderr (the journal), never silently.
    public static func runTasksOnEventLoops() {
        guard getenv("MAILSTACK_CONCURRENCY_POOL").map({ String(cString: $0) }) != "1" else { return }
        if !NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor() {
            let line = "mailstack: Swift's tasks stay on Swift's own thread pool (NIO could not find swift_task_enqueueGlobal_hook: a statically linked Swift runtime?); every hand-over costs a thread wake-up\n"
            _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        }
    }

    /// Sets how many event loops this process runs (NIO's singleton group, which also runs its
    /// Swift tasks): half the cores, at least one (`eventLoopCount`). Call first thing in
    /// main.swift, before anything uses the loops (NIO refuses a later change).
    public static func chooseEventLoopCount() {
        let override = getenv("NIO_SINGLETON_GROUP_LOOP_COUNT").map { String(cString: $0) }
        if let count = eventLoopCount(cores: System.coreCount, override: override) {
            NIOSingletons.groupLoopCountSuggestion = count
        }
    }

    /// Half of `cores` (NIO's count: the CPUs this process may run on, within its cgroup's
    /// quota), at least one; nil when NIO_SINGLETON_GROUP_LOOP_COUNT is set, which NIO then
    /// reads itself. The stack is several processes busy at the same time (smtp-in and the queue
    /// while mail comes in, the queue and smtpfeed-out while it goes out): with a loop per core
    /// each, more threads were runnable than there are cores, and they woke each other across
    /// them. On 2 cores (README Performance) one loop per service took 6% more messages at 10
    /// connections and 12% more in a steady flow, with 14-16% less CPU per message, and no less
    /// anywhere else (50 connections, outbound, POP3, relay-policy).
    static func eventLoopCount(cores: Int, override: String?) -> Int? {
        override == nil ? max(1, cores / 2) : nil
    }

    /// `--config FILE` and `--set key=value` from the command line. Without `--config`,
    /// /etc/mailstack/mailstack.yaml is used when it exists, else the built-in defaults.
    public static func arguments(_ argv: [String] = CommandLine.arguments) -> (file: String?, overrides: [String]) {
        var file: String?
        var overrides: [String] = []
        var iterator = argv.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--config": file = iterator.next()
            case "--set": overrides.append(iterator.next() ?? "")
            default: fail("unknown argument \(argument) (usage: --config FILE --set section.key=value ...)", logger: nil)
            }
        }
        if file == nil, access(defaultConfigurationFile, R_OK) == 0 { file = defaultConfigurationFile }
        return (file, overrides)
    }

    public static let defaultConfigurationFile = "/etc/mailstack/mailstack.yaml"

    /// Logs (or prints) `message` and exits 1.
    public static func fail(_ message: String, logger: Logger?) -> Never {
        if let logger {
            logger.critical("\(message)")
        } else {
            let line = "mailstack: \(message)\n"
            _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
        }
        exit(1)
    }

    /// Who may make privileged requests: root, this service's user, `users` and `groups` (names
    /// or numbers), and members of ipc.admin_group. Unknown names are logged and skipped.
    public static func peerPolicy(users: [String], groups: [String], configuration: MailstackConfiguration,
                                  logger: Logger) -> IPCPeerPolicy {
        var policy = IPCPeerPolicy()
        for user in users {
            if let uid = UInt32(user) { policy.uids.insert(uid) } else if let entry = SystemUser.named(user) {
                policy.uids.insert(entry.uid)
            } else {
                logger.notice("no such user \(user): not among the allowed peers")
            }
        }
        for group in groups + (configuration.adminGroup.isEmpty ? [] : [configuration.adminGroup]) {
            if let gid = UInt32(group) { policy.gids.insert(gid) } else if let entry = SystemGroup.named(group) {
                policy.gids.insert(entry.gid)
            } else {
                logger.notice("no such group \(group): not among the allowed peers")
            }
        }
        return policy
    }

    /// Who may send each request type to `service`: the services that send it, by the users of
    /// ipc.service_users (root and this service's own user always may). `extra` adds request
    /// types of the service's own (administrators' requests are decided by its handler).
    public static func requestPolicies(for service: String, configuration: MailstackConfiguration,
                                       logger: Logger) -> [String: IPCPeerPolicy] {
        let users = configuration.serviceUsers
        func sent(by senders: [String]) -> IPCPeerPolicy {
            peerPolicy(users: senders.compactMap { users[$0] }, groups: [], configuration: configuration, logger: logger)
        }
        let senders: [String: [String]]
        switch service {
        case "queue": senders = ["queue.submit": ["smtp-in"]]
        case "smtpfeed-out": senders = ["feed.deliver": ["queue"]]
        case "relay-policy":
            senders = ["policy.connect": ["smtp-in"], "policy.mail": ["smtp-in"], "policy.rcpt": ["smtp-in"], "policy.resolve": ["queue"],
                       "policy.auth": ["smtp-in"], "policy.txt": ["smtp-in"]]
        case "drac-registry": senders = ["drac.lookup": ["relay-policy"], "drac.list": []]
        // Programs and files run for the queue only: nobody else may make local-delivery run anything.
        case "local-delivery": senders = ["local.deliver": ["queue"]]
        default: senders = [:]
        }
        return senders.mapValues(sent(by:))
    }

    /// A client of `service` for the daemon `me`: its socket under ipc.directory, the frame cap,
    /// and ipc.request_timeout unless a request needs longer (`timeout`); a connection per event
    /// loop, so a request and its reply stay on the thread of the task that asked.
    public static func client(of service: String, from me: String, configuration: MailstackConfiguration, logger: Logger,
                              timeout: Duration? = nil) -> IPCClient {
        IPCClient(configuration: .init(path: configuration.socketPath(for: service), service: service, clientName: me,
                                       maxFrame: configuration.ipcMaxFrame, requestTimeout: timeout ?? configuration.ipcRequestTimeout,
                                       connectionPerEventLoop: true,
                                       idleClose: configuration.ipcIdleClose > .zero ? configuration.ipcIdleClose : nil),
                  logger: logger)
    }

    /// What stops a service that systemd started on demand (it was passed its listening sockets)
    /// after ipc.max_idle without a connection (`run`'s `stopWhenIdle`); nil when it bound its
    /// own sockets, which nobody would listen on once it stopped, or with ipc.max_idle 0s.
    public static func idleTracker(configuration: MailstackConfiguration, activated: Bool) -> IdleTracker? {
        guard activated, configuration.ipcMaxIdle > .zero else { return nil }
        return IdleTracker(maxIdle: configuration.ipcMaxIdle.timeAmount)
    }

    /// Loads the configuration or exits 78 (EX_CONFIG) with file, line and reason.
    public static func loadConfiguration(file: String?, overrides: [String]) -> MailstackConfiguration {
        do {
            return try ConfigLoader.load(file: file, overrides: overrides)
        } catch {
            let line = "mailstack: configuration refused: \(error)\n"
            _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
            exit(78)
        }
    }

    public static func logger(service: String, configuration: MailstackConfiguration) -> Logger {
        MailstackLogging.bootstrap(level: Logger.Level(rawValue: configuration.logLevel) ?? .info)
        return Logger(label: "mailstack.\(service)")
    }

    /// The IPC listener of `service`: the socket systemd passed (FileDescriptorName=<service>,
    /// or the only one), else a socket bound at <ipc.directory>/<service>.sock. With
    /// `onDemand`, a passed socket comes with an `idle` tracker (`idleTracker`): the service
    /// stops when it has had no connection for ipc.max_idle.
    public static func ipcListener(
        service: String,
        configuration: MailstackConfiguration,
        activated: [SocketActivation.Socket],
        logger: Logger,
        onDemand: Bool = true
    ) async throws -> IPCServer {
        var group: gid_t?
        if !configuration.ipcSocketGroup.isEmpty {
            if let gid = gid_t(configuration.ipcSocketGroup) {
                group = gid
            } else if let entry = SystemGroup.named(configuration.ipcSocketGroup) {
                group = entry.gid
            } else {
                fail("ipc.socket_group: no such group \(configuration.ipcSocketGroup)", logger: logger)
            }
        }
        var serverConfiguration = IPCServerConfiguration(service: service, maxFrame: configuration.ipcMaxFrame,
                                                         socketMode: configuration.ipcSocketMode, socketGroup: group)
        serverConfiguration.requestPolicies = requestPolicies(for: service, configuration: configuration, logger: logger)
        let inherited = activated.first { $0.name == service } ?? (activated.count == 1 ? activated.first : nil)
        if let inherited {
            logger.info("listening on socket passed by systemd (\(inherited.name))")
            return try await IPCServer.bind(.inherited(fd: inherited.fd, name: inherited.name),
                                            configuration: serverConfiguration, logger: logger,
                                            idle: onDemand ? idleTracker(configuration: configuration, activated: true) : nil)
        }
        let path = configuration.socketPath(for: service)
        try makeDirectory(configuration.ipcDirectory)
        logger.info("listening on \(path)")
        return try await IPCServer.bind(.path(path), configuration: serverConfiguration, logger: logger)
    }

    /// Creates the directory that will hold `file`.
    public static func makeDirectory(parentOf file: String) throws {
        guard let slash = file.lastIndex(of: "/"), slash != file.startIndex else { return }
        try makeDirectory(String(file[..<slash]))
    }

    /// Creates a directory (and its parents) with mode 0755 if it does not exist.
    public static func makeDirectory(_ path: String) throws {
        var partial = ""
        for component in path.split(separator: "/") {
            partial += "/" + component
            if mkdir(partial, 0o755) != 0 && errno != EEXIST {
                throw IPCError.peerUnavailable(service: path, reason: "mkdir \(partial): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Runs `services` (plus the watchdog) until SIGTERM or SIGINT, or until `stopWhenIdle`
    /// says the service has had no connection for ipc.max_idle (then it stops as at SIGTERM and
    /// exits 0: systemd starts it again at the next connection). Call after every socket is
    /// bound: it tells systemd READY=1 first.
    public static func run(service: String, services: [any Service], status: String, logger: Logger,
                           stopWhenIdle: IdleTracker? = nil) async throws {
        var configurations = services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
        configurations.append(.init(service: WatchdogService(logger: logger)))
        if let stopWhenIdle {
            configurations.append(.init(service: IdleStopService(tracker: stopWhenIdle, service: service, logger: logger),
                                        successTerminationBehavior: .gracefullyShutdownGroup))
        }
        let group = ServiceGroup(
            configuration: .init(services: configurations, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        SystemdNotifier.ready(status: status)
        logger.notice("\(service) ready: \(status)")
        do {
            try await group.run()
        } catch is CancellationError {
        } catch {
            SystemdNotifier.stopping(status: "failed: \(error)")
            logger.critical("\(service) failed: \(error)")
            exit(1)
        }
        SystemdNotifier.stopping()
        logger.notice("\(service) stopped")
    }
}
