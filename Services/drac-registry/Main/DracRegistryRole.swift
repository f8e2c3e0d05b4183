// drac-registry: the POP-before-SMTP registry (what dracd was).
//
// Serves:     <ipc.directory>/drac-registry.sock (or the socket systemd passes): lookups for
//             relay-policy, adds from pop3, edits from `mailstack drac`.
// Talks to:   nobody.
// Privileges: its own user; reads and writes drac.database only (drac.backend: file), or the
//             table drac in the pgsql.* database (drac.backend: pgsql), with the password from
//             pgsql.password_file or systemd's credentials. Writers are decided from the
//             peer's kernel credentials (drac.writer_users, drac.writer_groups, ipc.admin_group).
// Limits:     IPC frames of ipc.max_frame; entries expire after drac.window, swept every
//             drac.sweep_interval (default window/10).

import Daemon
import DracRegistryService
import Foundation
import MailstackPostgres
import ServiceLifecycle

/// drac-registry as a role of the mailstack executable (started as `drac-registry`).
public let role = Daemon.Role(name: "drac-registry", tasksOnEventLoops: true) { try await runDracRegistry() }

func runDracRegistry() async throws {
    let (file, overrides) = Daemon.arguments()
    let configuration = Daemon.loadConfiguration(file: file, overrides: overrides)
    let logger = Daemon.logger(service: "drac-registry", configuration: configuration)
    let registry: any DracBackend
    var databaseServices: [any Service] = []
    var status: String
    if configuration.dracBackend == "pgsql" {
        let settings: DatabaseSettings
        do {
            settings = try DatabaseSettings(configuration, environment: ProcessInfo.processInfo.environment)
        } catch {
            Daemon.fail("\(error)", logger: logger)
        }
        let database = SharedDatabase(settings: settings, logger: logger)
        let shared = DracPostgresRegistry(database: database, window: configuration.dracWindow, cacheTTL: configuration.dracCacheTTL)
        registry = shared
        do {
            databaseServices = [database, try DracChangeFeed(settings: settings, registry: shared, logger: logger)]
        } catch {
            Daemon.fail("\(error)", logger: logger)
        }
        status = "shared table drac on \(settings.host):\(settings.port)/\(settings.database), window \(configuration.dracWindow.configText)"
    } else {
        do {
            try Daemon.makeDirectory(parentOf: configuration.dracDatabase)
            let file = try DracRegistry(store: DracFileStore(path: configuration.dracDatabase), window: configuration.dracWindow)
            registry = file
            status = "\(file.list().count) addresses authorized, window \(configuration.dracWindow.configText)"
        } catch {
            Daemon.fail("cannot open \(configuration.dracDatabase): \(error)", logger: logger)
        }
    }
    let writers = Daemon.peerPolicy(users: configuration.dracWriterUsers, groups: configuration.dracWriterGroups,
                                    configuration: configuration, logger: logger)
    let server = try await Daemon.ipcListener(service: "drac-registry", configuration: configuration,
                                              activated: SocketActivation.take(), logger: logger)
    try await Daemon.run(
        service: "drac-registry",
        services: databaseServices + [
            IPCServerService(server: server, handler: DracRequestHandler(registry: registry, writers: writers, logger: logger)),
            DracSweeper(registry: registry, interval: configuration.dracSweepInterval, logger: logger),
        ],
        status: status,
        logger: logger,
        stopWhenIdle: server.idle
    )
}
