// The mailstack executable: started by a service's name (deploy/services; the units and the
// scripts start each through a link named after it), it is that service; by any other name, the
// administrator's tool (Mailstack.swift). One binary, so the seven processes share its code.

import Daemon
import DracRegistryMain
import LocalDeliveryMain
import POP3Main
import QueueMain
import RelayPolicyMain
import SMTPFeedMain
import SMTPInMain

let roles = [DracRegistryMain.role, RelayPolicyMain.role, SMTPFeedMain.role, LocalDeliveryMain.role, QueueMain.role, POP3Main.role, SMTPInMain.role]
if let role = Daemon.Role.invoked(among: roles) {
    // Before the first await and before anything uses the event loops: no task may have run on
    // Swift's own pool yet, and NIO fixes the loops' number when they are first used.
    Daemon.chooseEventLoopCount()
    if role.tasksOnEventLoops { Daemon.runTasksOnEventLoops() }
    try await role.run()
} else {
    await Mailstack.runAsTool()
}
