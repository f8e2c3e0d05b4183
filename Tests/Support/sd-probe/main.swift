// sd-probe: the smallest daemon built on Shared/Daemon, used by the systemd glue tests. It
// answers IPC pings on its socket (socket-activated or self-bound), tells systemd READY,
// pings the watchdog, and stops cleanly on SIGTERM.
//
// Usage: sd-probe [--config FILE] [--set key=value]...

import Daemon
import MailstackSystemd

struct NoRequests: IPCRequestHandler {
    func handle(_ request: IPCRequest, stream: IPCBodyStream?) async throws -> IPCBody {
        throw IPCHandlerError(.unknownType, "sd-probe answers ping only")
    }
}

let (file, overrides) = Daemon.arguments()
let configuration = Daemon.loadConfiguration(file: file, overrides: overrides)
let logger = Daemon.logger(service: "sd-probe", configuration: configuration)
let activated = SocketActivation.take()
let server = try await Daemon.ipcListener(service: "sd-probe", configuration: configuration, activated: activated, logger: logger)
try await Daemon.run(service: "sd-probe", services: [IPCServerService(server: server, handler: NoRequests())],
                     status: "answering pings", logger: logger, stopWhenIdle: server.idle)
