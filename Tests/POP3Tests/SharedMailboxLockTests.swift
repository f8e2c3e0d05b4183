import Logging
import MailstackPostgres
import POP3Service
import Testing
import TestSupport

/// One POP3 session per mailbox across hosts: two hosts' lock tables on one real PostgreSQL.
@Suite("POP3 mailbox locks across hosts", .serialized, .enabled(if: TestPostgres.isInstalled))
struct SharedMailboxLockTests {
    let server: TestPostgres
    init() throws { server = try TestPostgres() }

    func host(timeout: Duration = .seconds(30)) throws -> POP3MailboxLocks {
        let settings = DatabaseSettings(host: server.host, port: server.port, database: "mailstack", user: "mailstack",
                                        password: server.password, timeout: timeout)
        return POP3MailboxLocks(shared: try SharedMailboxLocks(settings: settings, logger: Logger(label: "test")))
    }

    @Test("a mailbox held on host A is in use on host B (and on A), other mailboxes are not; released, B may take it")
    func acrossHosts() async throws {
        let a = try host(), b = try host()
        #expect(await a.acquireEverywhere("you") == .taken)
        #expect(await b.acquireEverywhere("you") == .inUse)
        #expect(await a.acquireEverywhere("you") == .inUse)
        let other = await b.acquireEverywhere("user2")
        #expect(other == .taken)
        a.release("you")
        // The lock goes with A's connection, which closes in the background.
        try await TestSupport.eventually {
            if await b.acquireEverywhere("you") == .taken { return true }
            return false
        }
        b.release("you")
        b.release("user2")
    }

    @Test("the database stopped: the lock cannot be taken (unavailable, within the deadline); started again, it can")
    func databaseDown() async throws {
        let a = try host(timeout: .seconds(2))
        try server.stop()
        let started = ContinuousClock.now
        guard case .unavailable = await a.acquireEverywhere("you") else {
            Issue.record("a lock was granted with the database stopped")
            return
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        // Nothing of it stays held on this host either.
        #expect(a.acquire("you"))
        a.release("you")
        try server.start()
        try await TestSupport.eventually { await a.acquireEverywhere("you") == .taken }
        a.release("you")
    }

    @Test("a session's process gone: the database frees its lock")
    func holderGone() async throws {
        let a = try host(), b = try host()
        #expect(await a.acquireEverywhere("you") == .taken)
        // What a killed pop3 leaves: its connections closed by the kernel. The server ends them here.
        try server.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'mailstack-pop3'")
        try await TestSupport.eventually { await b.acquireEverywhere("you") == .taken }
        b.release("you")
        a.release("you") // its connection, ended by the server, is still closed on our side
    }
}
