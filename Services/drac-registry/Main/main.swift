// drac-registry: the POP-before-SMTP registry (what dracd was).
//
// Serves:     <ipc.directory>/drac-registry.sock (or the socket systemd passes): lookups for
//             relay-policy, adds from pop3, edits from `mailstack drac`.
// Talks to:   nobody.
// Privileges: its own user; reads and writes drac.database only. Writers are decided from the
//             peer's kernel credentials (drac.writer_users, drac.writer_groups, ipc.admin_group).
// Limits:     IPC frames of ipc.max_frame; entries expire after drac.window, swept every
//             drac.sweep_interval (default window/10).

import Daemon
import DracRegistryService

Daemon.runTasksOnEventLoops()
let (file, overrides) = Daemon.arguments()
let configuration = Daemon.loadConfiguration(file: file, overrides: overrides)
let logger = Daemon.logger(service: "drac-registry", configuration: configuration)
let registry: DracRegistry
do {
    try Daemon.makeDirectory(parentOf: configuration.dracDatabase)
    registry = try DracRegistry(store: DracFileStore(path: configuration.dracDatabase), window: configuration.dracWindow)
} catch {
    Daemon.fail("cannot open \(configuration.dracDatabase): \(error)", logger: logger)
}
let writers = Daemon.peerPolicy(users: configuration.dracWriterUsers, groups: configuration.dracWriterGroups,
                                configuration: configuration, logger: logger)
let server = try await Daemon.ipcListener(service: "drac-registry", configuration: configuration,
                                          activated: SocketActivation.take(), logger: logger)
try await Daemon.run(
    service: "drac-registry",
    services: [
        IPCServerService(server: server, handler: DracRequestHandler(registry: registry, writers: writers, logger: logger)),
        DracSweeper(registry: registry, interval: configuration.dracSweepInterval, logger: logger),
    ],
    status: "\(registry.list().count) addresses authorized, window \(configuration.dracWindow.configText)",
    logger: logger
)
