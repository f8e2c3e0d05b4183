import DNS
import Foundation
import IPC
import Logging
import NIOCore
import NIOEmbedded
import SMTP
import SMTPFeedService
import Testing
import TestSupport

/// smtpfeed-out's engine against real peers on loopback: Postfix's smtp-sink (with its fault
/// options) and a dnsmasq serving MX and A records.
@Suite("smtpfeed-out delivery", .serialized)
struct FeedTests {
    static let body = "From: <s@client.test>\r\nSubject: feed\r\nMessage-ID: <feed@test>\r\n\r\n.leading dot\r\nbody\r\n"

    func feed(dns: TestDNSServer, port: Int, configure: (inout Feed.Settings) -> Void = { _ in },
              routes: [String: MailRoute] = [:]) -> RoutedFeed {
        var settings = Feed.Settings()
        settings.hostname = "host.domain.com"
        settings.defaultPort = port
        settings.connectTimeout = .seconds(10)
        settings.commandTimeout = .seconds(30)
        configure(&settings)
        var logger = Logger(label: "feed")
        logger.logLevel = ProcessInfo.processInfo.environment["FEED_DEBUG"] != nil ? .trace : .critical
        let resolver = DNSResolver(servers: [DNSResolver.Server(dns.server)!], timeout: .seconds(10))
        return RoutedFeed(feed: Feed(settings: settings, resolver: resolver, logger: logger), routes: routes)
    }

    func message(_ recipients: [String], body: String = FeedTests.body) -> Feed.Message {
        Feed.Message(id: "TESTID", sender: "s@client.test", recipients: recipients.map { EnvelopeRecipient(address: $0) },
                     body: ByteBuffer(string: body))
    }

    static func route(_ host: String, port: Int, mx: Bool = false) -> MailRoute {
        .smtp(host: host, mxLookup: mx, port: port)
    }

    @Test("MX in preference order: an unreachable first MX is skipped, the second takes the message, dot-stuffing round trips")
    func mxOrder() async throws {
        let sink = try await SMTPSink()
        let dns = try await TestDNSServer(records: [
            "mx-host=mx.test,mx1.mx.test,10", "mx-host=mx.test,mx2.mx.test,20",
            "host-record=mx1.mx.test,127.0.0.9", "host-record=mx2.mx.test,127.0.0.1",
        ])
        let results = await feed(dns: dns, port: sink.port).deliver(message(["a@mx.test", "b@mx.test"]))
        #expect(results.map(\.code) == [250, 250], "\(results)")
        #expect(results.first?.relay == "mx2.mx.test [127.0.0.1]")
        try await TestSupport.eventually { sink.messages.count == 1 }
        #expect(sink.messages.count == 1, "both recipients in one transaction")
        let dump = sink.messages.first ?? ""
        #expect(dump.contains("X-Rcpt-Args: <a@mx.test>") && dump.contains("X-Rcpt-Args: <b@mx.test>"))
        #expect(dump.contains("\n.leading dot\n") || dump.contains("\r\n.leading dot\r\n"))
    }

    @Test("no MX: the domain's own address; a null MX and a missing domain are permanent failures")
    func fallbacks() async throws {
        let sink = try await SMTPSink()
        let dns = try await TestDNSServer(records: ["host-record=plain.test,127.0.0.1", "mx-host=nullmx.test,.,0"])
        let f = feed(dns: dns, port: sink.port)
        #expect(await f.deliver(message(["x@plain.test"])).map(\.code) == [250])
        let null = await f.deliver(message(["x@nullmx.test"]))
        #expect(null.first?.code == 556 && null.first?.enhanced == "5.1.10")
        let missing = await f.deliver(message(["x@nowhere.test"]))
        #expect(missing.first?.code == 550 && missing.first?.enhanced == "5.1.2")
    }

    @Test("a mailertable route wins over MX, with its port; an error: route fails as configured")
    func mailertable() async throws {
        let sink = try await SMTPSink()
        let dns = try await TestDNSServer(records: ["mx-host=routed.test,nowhere.routed.test,10"])
        let f = feed(dns: dns, port: 9, routes: [
            "routed.test": Self.route("127.0.0.1", port: sink.port),
            "refused.test": .error(SMTPReply(550, "5.7.1", "we do not send there")),
        ])
        let results = await f.deliver(message(["x@routed.test", "y@refused.test"]))
        #expect(results.map(\.code) == [250, 550])
        #expect(results[1].text == "we do not send there")
        try await TestSupport.eventually { sink.messages.first?.contains("X-Rcpt-Args: <x@routed.test>") == true }
    }

    @Test("per-recipient results: one destination takes, one refuses for good, one defers; the remote text is kept")
    func mixed() async throws {
        let good = try await SMTPSink()
        let hard = try await SMTPSink(options: ["-f", "RCPT"])
        let soft = try await SMTPSink(options: ["-r", "RCPT"])
        let dns = try await TestDNSServer(records: [])
        let f = feed(dns: dns, port: 9, routes: [
            "good.test": Self.route("127.0.0.1", port: good.port),
            "hard.test": Self.route("127.0.0.1", port: hard.port),
            "soft.test": Self.route("127.0.0.1", port: soft.port),
        ])
        let results = await f.deliver(message(["a@good.test", "b@hard.test", "c@soft.test"]))
        #expect(results.map { $0.code / 100 } == [2, 5, 4])
        #expect(results[1].enhanced.hasPrefix("5.") && results[2].enhanced.hasPrefix("4."))
        #expect(results[1].relay == "127.0.0.1 [127.0.0.1]")
        try await TestSupport.eventually { good.messages.count == 1 }
        #expect(!(hard.messages + soft.messages).contains { $0.contains("Subject: feed") })
    }

    @Test("connection reuse: further messages to the same host go over the connection already open")
    func reuse() async throws {
        let sink = try await SMTPSink()
        let dns = try await TestDNSServer(records: [])
        let f = feed(dns: dns, port: 9, routes: ["x.test": Self.route("127.0.0.1", port: sink.port)])
        for n in 0..<3 { #expect(await f.deliver(message(["a\(n)@x.test"])).map(\.code) == [250]) }
        #expect(f.connectionsOpened == 1)
        try await TestSupport.eventually { sink.messages.count == 3 }
    }

    @Test("without PIPELINING, and without ESMTP (HELO fallback), the message still goes")
    func noPipelining() async throws {
        let dns = try await TestDNSServer(records: [])
        for options in [["-p"], ["-e"]] {
            let sink = try await SMTPSink(options: options)
            let f = feed(dns: dns, port: 9, routes: ["x.test": Self.route("127.0.0.1", port: sink.port)])
            #expect(await f.deliver(message(["a@x.test", "b@x.test"])).map(\.code) == [250, 250], "\(options)")
            try await TestSupport.eventually { sink.messages.count == 1 }
        }
    }

    @Test("a server slower than the command timeout: a temporary failure, and the host is backed off")
    func timeout() async throws {
        let sink = try await SMTPSink(options: ["-w", "30"])
        let dns = try await TestDNSServer(records: [])
        let f = feed(dns: dns, port: 9, configure: { $0.commandTimeout = .seconds(1) },
                     routes: ["slow.test": Self.route("127.0.0.1", port: sink.port)])
        // smtp-sink answers DATA after 30 s: a 451 (not its 250) shows smtpfeed-out did not wait for it.
        let results = await f.deliver(message(["a@slow.test"]))
        #expect(results.first?.code == 451)
        let again = await f.deliver(message(["a@slow.test"]))
        #expect(again.first?.text.contains("failed recently") == true, "\(results) then \(again)")
        // An administrator's flush tries it anyway.
        var flushed = message(["a@slow.test"])
        flushed.ignoreBackoff = true
        #expect(await f.deliver(flushed).first?.text.contains("failed recently") == false)
    }

    @Test("STARTTLS required for a destination that does not offer it: deferred with 4.7.5, nothing sent")
    func requireTLS() async throws {
        let sink = try await SMTPSink()
        let dns = try await TestDNSServer(records: [])
        let f = feed(dns: dns, port: 9, configure: { $0.requireTLS = ["secure.test"] },
                     routes: ["secure.test": Self.route("127.0.0.1", port: sink.port)])
        let results = await f.deliver(message(["a@secure.test"]))
        #expect(results.first?.code == 451 && results.first?.enhanced == "4.7.5")
        #expect(sink.messages.isEmpty)
    }

    @Test("a next hop that greets as this host (smtp-sink -h host.domain.com): 553 5.3.5 mail loops back to me, nothing sent")
    func loopsBackInEHLO() async throws {
        let sink = try await SMTPSink(options: ["-h", "host.domain.com"])
        let dns = try await TestDNSServer(records: [])
        let f = feed(dns: dns, port: 9, routes: ["x.test": Self.route("127.0.0.1", port: sink.port)])
        let result = try #require(await f.deliver(message(["a@x.test"])).first)
        #expect(result.code == 553 && result.enhanced == "5.3.5", "\(result)")
        #expect(result.text == "127.0.0.1 config error: mail loops back to me (MX problem?)")
        #expect(sink.messages.isEmpty)
    }

    @Test("the greeting alone naming this host (refused before EHLO), or the EHLO reply alone (then QUIT), is enough")
    func loopsBackInGreetingOrEHLO() async throws {
        let dns = try await TestDNSServer(records: [])
        for (greeting, ehlo) in [("HOST.domain.com.", "elsewhere.test"), ("elsewhere.test", "host.domain.com")] {
            let server = try await ScriptedSMTPServer(.init(name: greeting, ehloName: ehlo))
            let f = feed(dns: dns, port: 9, routes: ["x.test": Self.route("127.0.0.1", port: server.port)])
            let result = try #require(await f.deliver(message(["a@x.test"])).first)
            #expect(result.code == 553 && result.enhanced == "5.3.5", "\(result)")
            let commands = server.transcript.commands
            #expect(commands.contains { $0.hasPrefix("EHLO") } == (ehlo == "host.domain.com"), "\(commands)")
            #expect(!commands.contains { $0.hasPrefix("MAIL") }, "\(commands)")
            await server.stop()
        }
    }

    @Test("an MX host that is one of our names: it and worse MX hosts are dropped (we are a backup MX); with none left, 553 5.3.5 without connecting")
    func mxIsThisHost() async throws {
        let sink = try await SMTPSink()
        let dns = try await TestDNSServer(records: [
            "mx-host=loop.test,host.domain.com,10", "mx-host=loop.test,mx2.loop.test,20", "host-record=mx2.loop.test,127.0.0.1",
            "mx-host=backup.test,mx1.backup.test,10", "mx-host=backup.test,mail.domain.com,20", "host-record=mx1.backup.test,127.0.0.1",
        ])
        let f = feed(dns: dns, port: sink.port) { $0.localNames = ["host.domain.com", "mail.domain.com"] }
        let looped = try #require(await f.deliver(message(["a@loop.test"])).first)
        #expect(looped.code == 553 && looped.enhanced == "5.3.5" && looped.text == "host.domain.com config error: mail loops back to me (MX problem?)",
                "\(looped)")
        #expect(f.connectionsOpened == 0, "mx2 (preference 20, worse than ours) is not tried")
        let backup = await f.deliver(message(["b@backup.test"]))
        #expect(backup.map(\.code) == [250] && backup.first?.relay == "mx1.backup.test [127.0.0.1]", "\(backup)")
        try await TestSupport.eventually { sink.messages.count == 1 }
    }

    @Test("NOTIFY=SUCCESS to a next hop with DSN: passed on (dsnPassedOn); to one without (smtp-sink -N): not passed, ours to report")
    func notifyPassedOn() async throws {
        let dns = try await TestDNSServer(records: [])
        for (options, offersDSN) in [([String](), true), (["-N"], false)] {
            let sink = try await SMTPSink(options: options)
            let f = feed(dns: dns, port: 9, routes: ["x.test": Self.route("127.0.0.1", port: sink.port)])
            var m = message(["a@x.test"])
            m.recipients[0].notify = .success
            let result = try #require(await f.deliver(m).first)
            #expect(result.code == 250 && result.dsnPassedOn == offersDSN, "\(options): \(result)")
            try await TestSupport.eventually { sink.messages.count == 1 }
            let args = sink.messages.first?.split(separator: "\n").first { $0.hasPrefix("X-Rcpt-Args:") } ?? ""
            #expect(args.contains("NOTIFY=SUCCESS") == offersDSN, "\(options): \(args)")
        }
    }

    @Test("the body is dot-stuffed and lines over the limit are broken; a message over the size limit is refused")
    func bodyRules() async throws {
        let stuffed = String(buffer: Feed.dotStuffed(ByteBuffer(string: ".a\r\nb\r\n..c\r\n" + String(repeating: "x", count: 25) + "\r\n"), maxLine: 10))
        #expect(stuffed == "..a\r\nb\r\n...c\r\nxxxxxxxxxx\r\nxxxxxxxxxx\r\nxxxxx\r\n.\r\n")
        #expect(String(buffer: Feed.dotStuffed(ByteBuffer(string: "a\r\n\r\n.b"))) == "a\r\n\r\n..b\r\n.\r\n")
        #expect(String(buffer: Feed.dotStuffed(ByteBuffer(string: "0123456789.x\r\n"), maxLine: 10)) == "0123456789\r\n..x\r\n.\r\n")
        let dns = try await TestDNSServer(records: [])
        let f = feed(dns: dns, port: 9, configure: { $0.maxMessageSize = 10 })
        #expect(await f.deliver(message(["a@x.test"])).first?.code == 552)
    }

    /// smtp-sink writes its dump after its reply: wait for it.
}

@Suite("smtpfeed-out: reading replies")
struct ReplyDecoderTests {
    @Test("multi-line replies, enhanced codes split off, CRLF removed; garbage refused")
    func replies() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(SMTPReplyDecoder()))
        try channel.writeInbound(ByteBuffer(string: "250-mx.test Hello\r\n250-PIPELINING\r\n250 STARTTLS\r\n550 5.1.1 <a@b>... User unknown\r\n"))
        let ehlo = try channel.readInbound(as: SMTPReply.self)
        #expect(ehlo?.lines == ["mx.test Hello", "PIPELINING", "STARTTLS"])
        let refusal = try channel.readInbound(as: SMTPReply.self)
        #expect(refusal == SMTPReply(550, "5.1.1", "<a@b>... User unknown"))
        #expect(throws: (any Error).self) { try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\n")) }
    }

    @Test("only an RFC 3463 code of the reply's class is split off as the enhanced code (found by fuzzing)", arguments: [
        ("250 242.0.0 OK", "", "242.0.0 OK"), ("250 2.0.0 OK", "2.0.0", "OK"), ("550 2.0.0 no", "", "2.0.0 no"),
        ("250 2.1234.0 x", "", "2.1234.0 x"), ("250 2.\u{0663}.0 x", "", "2.\u{0663}.0 x"), ("451 4.7.5 TLS", "4.7.5", "TLS"),
    ])
    func enhancedCodes(line: String, enhanced: String, text: String) throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(SMTPReplyDecoder()))
        try channel.writeInbound(ByteBuffer(string: line + "\r\n"))
        let reply = try channel.readInbound(as: SMTPReply.self)
        #expect(reply?.enhanced == enhanced && reply?.lines == [text], "\(String(describing: reply))")
    }

    @Test("a CR inside a reply line is refused: it would reach logs and DSNs as a line break (found by fuzzing)")
    func crInsideLine() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(SMTPReplyDecoder()))
        #expect(throws: (any Error).self) { try channel.writeInbound(ByteBuffer(string: "550 5.1.1 no\rX-Injected: yes\r\n")) }
        #expect(try channel.readInbound(as: SMTPReply.self) == nil)
        let tolerant = EmbeddedChannel(handler: ByteToMessageHandler(SMTPReplyDecoder()))
        try tolerant.writeInbound(ByteBuffer(string: "250 ok\r\r\n220 bare LF\n"))
        #expect(try tolerant.readInbound(as: SMTPReply.self)?.lines == ["ok"])
        #expect(try tolerant.readInbound(as: SMTPReply.self)?.lines == ["bare LF"])
    }
}

/// A feed whose messages get their recipients' routes from a table by domain, as relay-policy's
/// answers would bring them through the queue.
struct RoutedFeed {
    let feed: Feed
    let routes: [String: MailRoute]

    func deliver(_ message: Feed.Message) async -> [DeliveryResult] {
        var message = message
        message.routes = message.recipients.map { routes[$0.domain] ?? .mx }
        return await feed.deliver(message)
    }

    var connectionsOpened: Int { feed.connectionsOpened }
}
