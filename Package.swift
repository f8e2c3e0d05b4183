// swift-tools-version:6.0
//
// mailstack: sendmail + drac + qpopper + smtpfeed, rebuilt as Swift services that talk a
// length-prefixed protocol over Unix sockets. Layout (fixed): Services/<name> holds each daemon
// (a thin executable over a library target), Shared/<name> the shared libraries, Tests the tests.

import PackageDescription

let nio = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let lifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let protobuf = Target.Dependency.product(name: "SwiftProtobuf", package: "swift-protobuf")

let package = Package(
    name: "mailstack",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "mailstack", targets: ["mailstack"]),
        .executable(name: "sendmail", targets: ["sendmail"]),
        .executable(name: "ipc-bench", targets: ["ipc-bench"]),
        .executable(name: "mailstack-fuzz", targets: ["mailstack-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // C libraries, wrapped once each.
        .systemLibrary(name: "CBerkeleyDB", path: "Shared/CBerkeleyDB"),
        .systemLibrary(name: "CSystemd", path: "Shared/CSystemd", pkgConfig: "libsystemd"),
        .systemLibrary(name: "CCrypt", path: "Shared/CCrypt"),
        .systemLibrary(name: "CResolv", path: "Shared/CResolv"),
        // Linux process calls Swift's Glibc module lacks (fork+exec with a user switch, pidfd,
        // per-thread file credentials, a lock wait with a deadline), for local-delivery.
        .target(name: "CProcess", path: "Shared/CProcess"),

        // Shared/IPC: frames, the schema (ipc.proto) and its generated code, the codec. No NIO handlers.
        .target(name: "IPC", dependencies: [nio, protobuf], path: "Shared/IPC", exclude: ["ipc.proto", "generate.sh"]),
        // Shared/IPCTransport: NIO server and client for the IPC protocol over Unix sockets.
        .target(name: "IPCTransport", dependencies: ["IPC", "Listeners", "SMTP", "Timing", nio, nioPosix, logging], path: "Shared/IPCTransport"),
        // Shared/Maps: Berkeley DB hash/btree files in sendmail's makemap layout.
        .target(name: "MailstackMaps", dependencies: ["CBerkeleyDB"], path: "Shared/Maps"),
        // Shared/Aliases: sendmail's aliases file, its aliases.db (newaliases) and the alias expander.
        .target(name: "MailstackAliases", dependencies: ["MailstackMaps"], path: "Shared/Aliases"),
        // Shared/Config: the configuration file, its documented keys, the sendmail.mc importer.
        .target(name: "MailstackConfig", dependencies: [.product(name: "Yams", package: "Yams")], path: "Shared/Config"),
        // Shared/Systemd: sd_notify, watchdog, socket activation, journal logging.
        .target(name: "MailstackSystemd", dependencies: ["CSystemd", logging, lifecycle], path: "Shared/Systemd"),

        // Shared/Postgres: the PostgreSQL database several hosts share (drac's table): settings,
        // the password file, a reconnecting pool with a deadline on every call.
        .target(
            name: "MailstackPostgres",
            dependencies: ["MailstackConfig", "MailstackMaps", "Users", .product(name: "PostgresNIO", package: "postgres-nio"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl"), logging, lifecycle],
            path: "Shared/Postgres"
        ),

        // Shared/DNS: a resolver client (glibc's resolver on a thread pool) with a TTL cache.
        .target(name: "DNS", dependencies: ["CResolv", "Timing", nioPosix], path: "Shared/DNS"),
        // Shared/SenderAuth: SPF (RFC 7208), DMARC (RFC 7489), the Public Suffix List and
        // Authentication-Results: (RFC 8601) as pure logic; DNS through an injected resolver.
        // Shared/Files: whole files read with a bound (administrators' files).
        .target(name: "Files", path: "Shared/Files"),
        // Shared/Accounts: the system's users and groups, looked up without getpwnam(3)'s shared static buffer.
        .target(name: "Accounts", path: "Shared/Accounts"),
        .target(name: "SenderAuth", dependencies: ["Files"], path: "Shared/SenderAuth"),
        // Shared/DKIM: DKIM signing and verification (RFC 6376, RFC 8463): pure logic, keys
        // looked up through an injected closure (no DNS, no sockets).
        .target(
            name: "DKIM",
            dependencies: [.product(name: "Crypto", package: "swift-crypto"), .product(name: "_CryptoExtras", package: "swift-crypto")],
            path: "Shared/DKIM"
        ),
        // Shared/Users: the passwd-file (users and crypt(3) hashes) pop3 authenticates against
        // and relay-policy checks mailboxes with.
        .target(name: "Users", dependencies: ["CCrypt", "Files", "Timing", nioPosix, .product(name: "Crypto", package: "swift-crypto")], path: "Shared/Users"),
        // Shared/SMTP: the SMTP grammar shared by smtp-in, queue and smtpfeed-out (dates,
        // addresses, parameters, replies).
        .target(name: "SMTP", path: "Shared/SMTP"),
        // Shared/Listeners: TCP listeners (bound or passed by systemd) and connection caps, for
        // smtp-in and pop3.
        .target(name: "Listeners", dependencies: ["Timing", nio, nioPosix], path: "Shared/Listeners"),
        // Shared/Timing: Duration as NIO's TimeAmount, once.
        .target(name: "Timing", dependencies: [nio, nioPosix], path: "Shared/Timing"),
        // Shared/Maildir: the Maildir contract between the queue (writer) and pop3 (reader).
        .target(name: "Maildir", path: "Shared/Maildir"),
        // Shared/Mbox: mbox spools (mboxo, mboxrd, mboxcl, mboxcl2), qpopper's UIDLs, and their
        // import into Maildirs (`mailstack import-mbox`).
        .target(name: "Mbox", dependencies: ["Maildir", "CProcess", .product(name: "Crypto", package: "swift-crypto")], path: "Shared/Mbox"),
        // Shared/Daemon: what every daemon does around its logic (config, logging, sockets, READY).
        .target(
            name: "Daemon",
            dependencies: ["Accounts", "IPC", "IPCTransport", "Listeners", "MailstackConfig", "MailstackSystemd", nio, nioPosix, logging, lifecycle],
            path: "Shared/Daemon"
        ),

        // Services: each a library (its logic, tested without processes) and its process's setup
        // (Services/<name>/Main: a role of the mailstack executable, run by the name it is started as).
        .target(
            name: "DracRegistryService",
            dependencies: ["IPC", "IPCTransport", "MailstackMaps", "MailstackPostgres", logging, lifecycle,
                           .product(name: "PostgresNIO", package: "postgres-nio")],
            path: "Services/drac-registry/Library"
        ),
        .target(
            name: "DracRegistryMain",
            dependencies: ["Daemon", "DracRegistryService", "MailstackPostgres", lifecycle],
            path: "Services/drac-registry/Main"
        ),

        .target(
            name: "POP3Service",
            dependencies: [
                "IPC", "IPCTransport", "Listeners", "Maildir", "MailstackPostgres", "Timing", "Users", nio, nioPosix, logging, lifecycle,
                .product(name: "_NIOFileSystem", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Services/pop3/Library"
        ),
        .target(
            name: "POP3Main",
            dependencies: ["Daemon", "POP3Service", "MailstackPostgres", lifecycle, .product(name: "NIOSSL", package: "swift-nio-ssl")],
            path: "Services/pop3/Main"
        ),

        .target(
            name: "RelayPolicyService",
            dependencies: ["MailstackMaps", "MailstackAliases", "DNS", "IPC", "IPCTransport", "SMTP", "SenderAuth", logging],
            path: "Services/relay-policy/Library"
        ),
        .target(
            name: "RelayPolicyMain",
            dependencies: ["Daemon", "RelayPolicyService", "DNS", "Files", "Users", "MailstackMaps", "MailstackAliases", "MailstackPostgres"],
            path: "Services/relay-policy/Main"
        ),

        .target(
            name: "QueueService",
            dependencies: ["Accounts", "IPC", "IPCTransport", "Maildir", "SMTP", "Timing", nio, nioPosix, logging, lifecycle,
                           .product(name: "Crypto", package: "swift-crypto")],
            path: "Services/queue/Library"
        ),
        .target(
            name: "QueueMain",
            dependencies: ["Daemon", "QueueService", nioPosix],
            path: "Services/queue/Main"
        ),

        .target(
            name: "SMTPInService",
            dependencies: [
                "IPC", "IPCTransport", "Listeners", "SMTP", "SenderAuth", "DKIM", "Timing", "Users", nio, nioPosix, logging, lifecycle,
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Services/smtp-in/Library"
        ),
        .target(
            name: "SMTPInMain",
            dependencies: ["Daemon", "SMTPInService", "SenderAuth", "Users", "MailstackPostgres", lifecycle, .product(name: "NIOSSL", package: "swift-nio-ssl")],
            path: "Services/smtp-in/Main"
        ),

        .target(
            name: "SMTPFeedService",
            dependencies: [
                "IPC", "IPCTransport", "DNS", "DKIM", "SMTP", "Timing", nio, nioPosix, logging,
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Services/smtpfeed-out/Library"
        ),
        .target(
            name: "SMTPFeedMain",
            dependencies: ["Daemon", "SMTPFeedService", "DNS"],
            path: "Services/smtpfeed-out/Main"
        ),

        .target(
            name: "LocalDeliveryService",
            dependencies: ["Accounts", "CProcess", "IPC", "IPCTransport", "SMTP", logging],
            path: "Services/local-delivery/Library"
        ),
        .target(
            name: "LocalDeliveryMain",
            dependencies: ["Daemon", "LocalDeliveryService"],
            path: "Services/local-delivery/Main"
        ),

        // The administrator's command-line tool, and every service: one executable whose code
        // pages the seven processes share. Started by a service's name (a link, as the units and
        // scripts do), it runs that service; by any other name, the tool.
        .executableTarget(
            name: "mailstack",
            dependencies: ["Daemon", "DracRegistryMain", "RelayPolicyMain", "SMTPFeedMain", "LocalDeliveryMain", "QueueMain", "POP3Main", "SMTPInMain",
                           "MailstackMaps", "MailstackAliases", "MailstackConfig", "MailstackPostgres", "IPC", "IPCTransport", "SendmailCommand", "Mbox", "Users", "DKIM",
                           "Accounts", argumentParser, logging],
            path: "Tools/mailstack"
        ),
        // The sendmail command (mailq and newaliases by their names): local submission through
        // the queue's submit.sock. A thin executable over its library.
        .target(
            name: "SendmailCommand",
            dependencies: ["Accounts", "IPC", "IPCTransport", "MailstackConfig", "MailstackAliases", "MailstackMaps", "SMTP", nio, logging],
            path: "Tools/sendmail/Library"
        ),
        .executableTarget(name: "sendmail", dependencies: ["SendmailCommand"], path: "Tools/sendmail/Main"),
        // Benchmarks (not tests).
        .executableTarget(
            name: "ipc-bench",
            dependencies: ["IPC", "IPCTransport", nio, nioPosix, logging, argumentParser],
            path: "bench/ipc-bench"
        ),
        .executableTarget(
            name: "queue-bench",
            dependencies: ["IPC", "IPCTransport", nio, nioPosix, logging, argumentParser],
            path: "bench/queue-bench"
        ),
        .executableTarget(name: "smtp-load", dependencies: [argumentParser], path: "bench/smtp-load"),
        .executableTarget(name: "dkim-bench", dependencies: ["DKIM"], path: "bench/dkim-bench"),
        // libFuzzer targets for every parser of outside input (scripts/fuzz.sh builds them with
        // -sanitize=fuzzer,address -DFUZZING); in a normal build, a replay tool for their corpora.
        .executableTarget(
            name: "mailstack-fuzz",
            dependencies: [
                "SMTP", "SMTPInService", "SMTPFeedService", "POP3Service", "QueueService", "RelayPolicyService", "LocalDeliveryService",
                "SendmailCommand", "DKIM", "SenderAuth",
                "IPC", "Users", "MailstackMaps", "MailstackAliases", "MailstackConfig", "Mbox", "Maildir", nio, nioPosix,
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            path: "Fuzz/mailstack-fuzz"
        ),
        // A tiny socket-activated daemon used by the systemd glue tests and as a template.
        .executableTarget(
            name: "sd-probe",
            dependencies: ["Daemon", "MailstackSystemd"],
            path: "Tests/Support/sd-probe"
        ),

        .target(name: "TestSupport", dependencies: ["Accounts", "CProcess"], path: "Tests/Support/TestSupport"),
        .testTarget(name: "IPCTests", dependencies: ["IPC", "IPCTransport", "Listeners", "TestSupport", nio, nioPosix, logging], path: "Tests/IPCTests"),
        .testTarget(
            name: "MapsTests",
            dependencies: ["MailstackMaps", "MailstackAliases", "MailstackPostgres", "TestSupport", logging],
            path: "Tests/MapsTests",
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "AliasesTests",
            dependencies: ["Accounts", "MailstackAliases", "MailstackMaps", "TestSupport"],
            path: "Tests/AliasesTests",
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "ConfigTests",
            dependencies: ["MailstackConfig"],
            path: "Tests/ConfigTests",
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "DracRegistryTests",
            dependencies: ["DracRegistryService", "IPC", "IPCTransport", "MailstackMaps", "MailstackPostgres", "TestSupport", logging],
            path: "Tests/DracRegistryTests"
        ),
        .testTarget(
            name: "POP3Tests",
            dependencies: ["POP3Service", "Files", "Maildir", "MailstackPostgres", "Users", "Listeners", "TestSupport", "IPC", "IPCTransport", nio, logging,
                           .product(name: "NIOEmbedded", package: "swift-nio")],
            path: "Tests/POP3Tests"
        ),
        .testTarget(
            name: "RelayPolicyTests",
            dependencies: ["RelayPolicyService", "MailstackMaps", "MailstackAliases", "SMTP", "DNS", "TestSupport"],
            path: "Tests/RelayPolicyTests",
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "QueueTests",
            dependencies: ["QueueService", "SMTP", "IPC", "IPCTransport", "Maildir", "TestSupport", nio, nioPosix, logging],
            path: "Tests/QueueTests"
        ),
        .testTarget(
            name: "SendmailTests",
            dependencies: ["SendmailCommand", "SMTP", "IPC", "IPCTransport", "TestSupport", nio, logging],
            path: "Tests/SendmailTests"
        ),
        .testTarget(
            name: "SMTPInTests",
            dependencies: ["SMTPInService", "SMTP", "IPC", "Listeners", "TestSupport", nio, logging, .product(name: "NIOEmbedded", package: "swift-nio")],
            path: "Tests/SMTPInTests"
        ),
        .testTarget(
            name: "SMTPFeedTests",
            dependencies: ["SMTPFeedService", "SMTP", "DNS", "IPC", "IPCTransport", "TestSupport", nio, nioPosix, logging,
                           .product(name: "NIOEmbedded", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl")],
            path: "Tests/SMTPFeedTests"
        ),
        .testTarget(name: "MboxTests", dependencies: ["Mbox", "Maildir", "CProcess"], path: "Tests/MboxTests"),
        .testTarget(name: "DKIMTests", dependencies: ["DKIM", "TestSupport"], path: "Tests/DKIMTests", exclude: ["Fixtures"]),
        // smtpfeed-out's signatures against dkimpy and OpenDKIM (keys in a loopback dnsmasq), and theirs against ours.
        .testTarget(
            name: "DKIMInteropTests",
            dependencies: ["DKIM", "SMTPFeedService", "SMTP", "DNS", "TestSupport", nio, logging],
            path: "Tests/DKIMInteropTests"
        ),
        .testTarget(name: "DNSTests", dependencies: ["DNS", "TestSupport"], path: "Tests/DNSTests"),
        // SPF against dnsmasq, pyspf and the RFC 7208 test suite; DMARC, the PSL, Authentication-Results.
        .testTarget(
            name: "SenderAuthTests",
            dependencies: ["SenderAuth", "DNS", "RelayPolicyService", "TestSupport", .product(name: "Yams", package: "Yams")],
            path: "Tests/SenderAuthTests",
            exclude: ["Fixtures", "pyspf-check.py"]
        ),
        .testTarget(
            name: "LocalDeliveryTests",
            dependencies: ["Accounts", "LocalDeliveryService", "SMTP", "IPC", "IPCTransport", "TestSupport", nio, logging],
            path: "Tests/LocalDeliveryTests"
        ),
        // The seed's own scenario against every service binary, clients on 127.0.0.2 and up.
        .testTarget(name: "ScenarioTests", dependencies: ["Listeners", "TestSupport", nio], path: "Tests/ScenarioTests"),
        // Every fuzz corpus and regression replayed through mailstack-fuzz (no fuzzer needed).
        .testTarget(name: "FuzzReplayTests", dependencies: ["TestSupport"], path: "Tests/FuzzReplayTests"),
        .testTarget(name: "SystemdTests", dependencies: ["MailstackSystemd", "IPC", "IPCTransport", "TestSupport", nioPosix], path: "Tests/SystemdTests"),
    ]
)

// Every executable is linked by lld with packed relative relocations (DT_RELR, glibc 2.36): the
// ~40,000 R_X86_64_RELATIVE entries a PIE needs (about 0.9 MB of .rela.dyn per binary, read by
// ld.so at every start and then resident for the process's life) become a bitmap of a few KB.
// 0.4-1.0 MB less PSS per service at rest, 5 MB for the seven (README, "Memory at rest").
// Not mailstack-fuzz: scripts/fuzz.sh links it with libFuzzer and AddressSanitizer, as it was.
for target in package.targets where target.type == .executable && target.name != "mailstack-fuzz" {
    target.linkerSettings = (target.linkerSettings ?? []) + [
        .unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"], .when(platforms: [.linux])),
    ]
}

// Release builds optimise across the package's modules (-cross-module-optimization): a library
// module's generic and small functions (ChannelIO<Input>, the IPC transport, the SMTP grammar)
// are specialised and inlined where another module uses them, instead of being called through
// runtime generic metadata: smtp-in's CPU per message 9-19% less (README, "Performance").
for target in package.targets where target.type == .regular {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .unsafeFlags(["-cross-module-optimization"], .when(configuration: .release)),
    ]
}
