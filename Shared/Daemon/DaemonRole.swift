extension Daemon {
    /// One service as a role of the `mailstack` executable. The seven services are one binary
    /// (OpenSMTPD's way) so that their processes share its code pages; each still runs as its
    /// own process, under its own user and unit, started through a link named after it
    /// (`/usr/lib/mailstack/bin/smtp-in -> mailstack`). Services/<name>/Main defines the role.
    public struct Role: Sendable {
        /// The name the process is started by (deploy/services), and its log identifier.
        public let name: String
        /// Whether Swift concurrency's tasks run on NIO's event loops (`runTasksOnEventLoops`).
        /// It has to be decided before any task runs, so the role says it and main.swift acts on it.
        public let tasksOnEventLoops: Bool
        /// The process's life: configuration, sockets, services, until it is told to stop.
        public let run: @Sendable () async throws -> Void

        public init(name: String, tasksOnEventLoops: Bool, run: @escaping @Sendable () async throws -> Void) {
            self.name = name
            self.tasksOnEventLoops = tasksOnEventLoops
            self.run = run
        }

        /// The role `roles` has for the name this process was started by (the last part of
        /// argv[0]), if any.
        public static func invoked(among roles: [Role], argv0: String = CommandLine.arguments.first ?? "") -> Role? {
            let name = argv0.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? argv0
            return roles.first { $0.name == name }
        }
    }
}
