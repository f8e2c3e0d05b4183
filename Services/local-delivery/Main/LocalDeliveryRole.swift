// local-delivery: sendmail's prog mailer (behind smrsh) and file mailer, for the queue.
//
// Serves:     <ipc.directory>/local-delivery.sock (or the socket systemd passes): local.deliver
//             from the queue's user only (ipc.service_users; root and ipc.admin_group too), one
//             program or file per request, the message streamed after it.
// Talks to:   nobody. Runs programs: only entries of local.smrsh_directory (smrsh's rule), with
//             no shell, a fixed environment, no descriptor but stdin/stdout/stderr, a process
//             group of their own. Appends to files: only under local.file_directories, never
//             through a symbolic link.
// Privileges: its own user (mailstack-local) and nothing else; what it runs never as root: if
//             it was started as root (the local run without systemd), each program and each
//             file delivery first switches to local.run_as, or is refused as temporary.
// Limits:     local.program_timeout per program (SIGTERM to its process group, SIGKILL 5 s
//             later), the first 4 KiB of its output kept, local.file_lock_timeout for a
//             mailbox's lock, messages up to smtp.max_message_size (+ 64 KiB of the queue's own
//             header fields); the unit's TasksMax and MemoryMax hold its programs too.

import Daemon
import LocalDeliveryService

/// local-delivery as a role of the mailstack executable (started as `local-delivery`).
public let role = Daemon.Role(name: "local-delivery", tasksOnEventLoops: true) { try await runLocalDelivery() }

func runLocalDelivery() async throws {
    let (file, overrides) = Daemon.arguments()
    let configuration = Daemon.loadConfiguration(file: file, overrides: overrides)
    let logger = Daemon.logger(service: IPCServiceName.localDelivery, configuration: configuration)

    let identity = RunIdentity.resolve(runAs: configuration.localRunAs)
    if case let .unusable(reason) = identity {
        logger.error("started as root and cannot switch users: every delivery is refused (4xx) until fixed: \(reason)")
    }
    if !LocalDeliverySettings.isDirectory(configuration.localSmrshDirectory) {
        logger.notice("local.smrsh_directory \(configuration.localSmrshDirectory) does not exist: no program may run")
    }
    for directory in configuration.localFileDirectories where !LocalDeliverySettings.isDirectory(directory) {
        logger.notice("local.file_directories: \(directory) does not exist: nothing can be delivered there")
    }
    let settings = LocalDeliverySettings(
        smrshDirectory: configuration.localSmrshDirectory, programTimeout: configuration.localProgramTimeout,
        programFromLine: configuration.localProgramFromLine, identity: identity, fileDirectories: configuration.localFileDirectories,
        fileLockTimeout: configuration.localFileLockTimeout, maxMessageSize: configuration.maxMessageSize + 64 * 1024)
    let server = try await Daemon.ipcListener(service: IPCServiceName.localDelivery, configuration: configuration,
                                              activated: SocketActivation.take(), logger: logger)
    let files = settings.fileDirectories.isEmpty ? "no files" : "files under \(settings.fileDirectories.joined(separator: ", "))"
    try await Daemon.run(
        service: IPCServiceName.localDelivery,
        services: [IPCServerService(server: server, handler: LocalRequestHandler(delivery: LocalDelivery(settings: settings, logger: logger)))],
        status: "programs of \(settings.smrshDirectory) and \(files), as \(identity)",
        logger: logger, stopWhenIdle: server.idle)
}
