// relay-policy: sendmail's check_relay, check_mail, check_rcpt, virtusertable, aliases and
// mailertable, as a service.
//
// Serves:     <ipc.directory>/relay-policy.sock (or the socket systemd passes): connect, MAIL
//             and RCPT questions from smtp-in; where each recipient goes (every target with
//             its route) for the queue; smtp-in's sender authentication at DATA (policy.auth:
//             SPF and relay permission; policy.txt: TXT lookups for DMARC and DKIM keys).
// Talks to:   drac-registry (is this client POP-authorized?), DNS (dns.servers) for PTR and
//             forward confirmation, SPF, DMARC and DKIM key records.
// Privileges: its own user; reads the maps (maps.*), aliases.db (maps.aliases) and the
//             :include: files it names, virtuser-domains and pop3.passwd_file (which
//             mailboxes exist), or with maps.backend / pop3.users pgsql the shared tables
//             (SELECT only). Writes nothing.
// Limits:     IPC frames of ipc.max_frame; DNS queries of dns.timeout; maps re-checked every
//             maps.check_interval; SPF: 10 DNS-querying terms, 2 void lookups, 10 MX or PTR
//             names per mechanism (RFC 7208 4.6.4), records of 4 KiB.

import DNS
import Daemon
import Foundation
import MailstackAliases
import MailstackMaps
import MailstackPostgres
import RelayPolicyService
import Users
import Files

/// relay-policy as a role of the mailstack executable (started as `relay-policy`).
public let role = Daemon.Role(name: "relay-policy", tasksOnEventLoops: true) { try await runRelayPolicy() }

func runRelayPolicy() async throws {
    let (file, overrides) = Daemon.arguments()
    let configuration = Daemon.loadConfiguration(file: file, overrides: overrides)
    let logger = Daemon.logger(service: "relay-policy", configuration: configuration)

    /// With maps.backend: pgsql, access, virtusertable, mailertable, virtuser-domains and the
    /// aliases come from the shared tables (loaded by `mailstack makemap --pgsql`), each refreshed
    /// by a service of its own; with pop3.users: pgsql, which mailboxes exist comes from mail_users.
    var mapServices: [any Service] = []
    var sharedDatabase: SharedDatabase?
    if configuration.mapsBackend == "pgsql" || configuration.pop3Users == "pgsql" {
        do {
            let shared = SharedDatabase(settings: try DatabaseSettings(configuration, environment: ProcessInfo.processInfo.environment),
                                        logger: logger)
            sharedDatabase = shared
            mapServices.append(shared)
        } catch {
            Daemon.fail("\(error)", logger: logger)
        }
    }

    /// The maps are optional, as the seed's `-o` flags make them: a missing file has no entries.
    /// `name` is the map's name in the shared tables.
    let database = configuration.mapsBackend == "pgsql" ? sharedDatabase : nil
    /// What a verdict may depend on, by how many times each was loaded: their sum is the
    /// generation relay-policy's verdicts carry (smtp-in forgets the ones it holds when it grows).
    var sources: [@Sendable () -> Int64] = []
    func map(_ path: String, name: String, verdicts: Bool = true) -> MapLookup {
        if let database {
            let map = PostgresMap(name: name, database: database, checkInterval: configuration.mapCheckInterval,
                                  maxStale: configuration.mapsMaxStale, logger: logger)
            mapServices.append(map)
            if verdicts { sources.append { map.loads } }
            return { try map.lookup($0) }
        }
        let map = SendmailMap(path: path, checkInterval: configuration.mapCheckInterval, optional: true)
        if verdicts { sources.append { map.loads } }
        return { try map.lookup($0) }
    }

    var settings = RelayPolicy.Settings()
    settings.ptrCheck = configuration.ptrCheck
    settings.ptrCheckAllow = configuration.ptrCheckAllow
    settings.drac = configuration.dracEnabled
    if database != nil {
        let virtualDomains = map(configuration.virtuserDomainsFile, name: "virtuser-domains")
        settings.localDomains = LocalDomains(names: Set(configuration.localNames), table: { try virtualDomains($0) != nil })
    } else {
        let text: String
        do {
            text = try BoundedFile.text(configuration.virtuserDomainsFile, limit: ClassFile.maxFileSize)
        } catch where error.missing {
            text = "" // no virtual domains
        } catch {
            Daemon.fail("virtuser-domains: \(error)", logger: logger)
        }
        settings.localDomains = LocalDomains(names: Set(ClassFile.members(of: text) + configuration.localNames))
    }

    let drac = DracClient(Daemon.client(of: IPCServiceName.dracRegistry, from: IPCServiceName.relayPolicy, configuration: configuration,
                                        logger: logger, timeout: DracClient.lookupTimeout))
    let isMailbox: @Sendable (String) throws -> Bool
    if configuration.pop3Users == "pgsql", let sharedDatabase {
        let names = PostgresUserNames(database: sharedDatabase, checkInterval: configuration.mapCheckInterval,
                                      maxStale: configuration.mapsMaxStale, logger: logger)
        mapServices.append(names)
        sources.append { names.loads }
        isMailbox = { try names.contains($0) }
    } else {
        let users = PasswdFile(path: configuration.pop3PasswdFile)
        sources.append { users.loads }
        isMailbox = { users.user($0) != nil }
    }
    // Routes only (the queue's resolutions), never a verdict.
    let mailers = MailerTable(lookup: map(configuration.mailertableMap, name: "mailertable", verdicts: false))
    let aliasesDB: AliasesDatabase
    if let database {
        let source = PostgresMap(name: "aliases", database: database, checkInterval: configuration.mapCheckInterval,
                                 maxStale: configuration.mapsMaxStale, logger: logger)
        mapServices.append(source)
        aliasesDB = AliasesDatabase(source: source)
    } else {
        aliasesDB = AliasesDatabase(path: configuration.aliasesFile, checkInterval: configuration.mapCheckInterval, optional: true)
    }
    sources.append { aliasesDB.loads }
    let aliases = AliasExpander(domain: configuration.fqdn, lookup: { try aliasesDB.targets(for: $0) },
                                isMailbox: isMailbox, readInclude: { try AliasIncludeFile.read(path: $0) })
    let access = AccessMap(lookup: map(configuration.accessMap, name: "access"))
    let virtusers = VirtualUserTable(lookup: map(configuration.virtusertableMap, name: "virtusertable"))
    let generation: @Sendable () -> Int64 = { [sources] in sources.reduce(0) { $0 + $1() } }
    let policy = RelayPolicy(
        settings: settings,
        access: access,
        virtusers: virtusers,
        mailers: mailers,
        aliases: aliases,
        localUserExists: { try $0 == "postmaster" || isMailbox($0) },
        isDracAuthorized: { address in try await drac.isAuthorized(address) },
        generation: generation)
    let resolver = DNSResolver(servers: configuration.dnsServers.compactMap(DNSResolver.Server.init), timeout: configuration.dnsTimeout)
    let handler = PolicyRequestHandler(policy: policy, mailers: mailers, resolver: resolver, maxMessageSize: configuration.maxMessageSize,
                                       reuse: configuration.mapCheckInterval, logger: logger)
    let server = try await Daemon.ipcListener(service: IPCServiceName.relayPolicy, configuration: configuration,
                                              activated: SocketActivation.take(), logger: logger)
    try await Daemon.run(
        service: "relay-policy",
        services: mapServices + [IPCServerService(server: server, handler: handler), IPCClientService(client: drac.ipc)],
        status: "\(settings.localDomains.names.count) local domains\(database != nil ? " and table virtuser-domains" : ""), PTR check \(settings.ptrCheck ? "on" : "off")",
        logger: logger, stopWhenIdle: server.idle)
}
