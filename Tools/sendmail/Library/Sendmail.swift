import Accounts
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import IPC
import IPCTransport
import MailstackAliases
import MailstackConfig
import MailstackMaps
import NIOCore
import SMTP

/// sendmail: how every program on the machine sends mail (/usr/sbin/sendmail), and mailq and
/// newaliases by their names.
///
/// Talks to:   the queue: messages over <ipc.directory>/submit.sock (queue.submitLocal, open to
///             every user), -bp and -q over <ipc.directory>/queue.sock (administrators only).
/// Privileges: none, and none are needed: the queue learns who submits from the kernel
///             (SO_PEERCRED). It is not set-uid; -bi writes aliases.db with the caller's rights.
/// Limits:     smtp.max_message_size (also read here: a longer input is not sent), the queue's
///             submit.max_messages_per_minute per user.
/// Exit:       0 only once the queue has the message on disk; 64 usage, 65 a message or address
///             refused, 67 no recipients, 69 refused, 75 the queue unavailable or busy (try
///             again), 78 a bad configuration.
public enum Sendmail {
    /// Runs the command; returns its exit status.
    public static func run(_ argv: [String], stdin: DescriptorReader = DescriptorReader()) async -> Int32 {
        let program = (argv.first ?? "sendmail").split(separator: "/").last.map(String.init) ?? "sendmail"
        let invocation: SendmailInvocation
        do {
            invocation = try SendmailArguments.parse(argv)
        } catch {
            say(program, "\(error.message)\n\(SendmailArguments.usage)")
            return SysExit.usage
        }
        do {
            let configuration = try loadConfiguration(invocation)
            if invocation.verbose && !invocation.ignoredOptions.isEmpty {
                say(program, "ignored: \(invocation.ignoredOptions.joined(separator: " "))")
            }
            switch invocation.mode {
            case .deliver: try await deliver(invocation, configuration: configuration, stdin: stdin, program: program)
            case .smtp: try await smtpSession(configuration: configuration, stdin: stdin)
            case .printQueue: try await printQueue(configuration)
            case .initAliases: try newAliases(configuration)
            case let .flush(queueID): try await flush(queueID, configuration: configuration, verbose: invocation.verbose, program: program)
            case let .ignored(option):
                if invocation.verbose { say(program, "\(option) ignored: the queue service runs the queue itself") }
            }
            return SysExit.ok
        } catch let failure as SendmailFailure {
            say(program, failure.message)
            return failure.code
        } catch {
            say(program, "\(error)")
            return SysExit.software
        }
    }

    /// -C FILE, else /etc/mailstack/mailstack.yaml when it exists (as the other tools find it),
    /// with --set overrides; refused with file, line and reason (exit 78).
    static func loadConfiguration(_ invocation: SendmailInvocation) throws -> MailstackConfiguration {
        var file = invocation.configFile
        if file == nil, access(defaultConfigurationFile, R_OK) == 0 { file = defaultConfigurationFile }
        do {
            return try ConfigLoader.load(file: file, overrides: invocation.overrides)
        } catch {
            throw SendmailFailure(SysExit.config, "configuration refused: \(error)")
        }
    }

    public static let defaultConfigurationFile = "/etc/mailstack/mailstack.yaml"

    // MARK: -bm

    /// Reads the message (to the end of input, or a lone dot without -i), finds its recipients
    /// (arguments, and with -t the header's, Bcc: then removed) and submits it.
    static func deliver(_ invocation: SendmailInvocation, configuration: MailstackConfiguration, stdin: DescriptorReader,
                        program: String) async throws {
        var recipients = invocation.recipients.flatMap { AddressList.addresses($0) }
        guard invocation.extractRecipients || !recipients.isEmpty else {
            throw SendmailFailure(SysExit.noUser, "Recipient names must be specified")
        }
        let limit = configuration.maxMessageSize
        var terminator = DotTerminator(ignoreDots: invocation.ignoreDots)
        var message: [UInt8] = []
        while !terminator.ended, let chunk = await stdin.read() {
            message += terminator.feed(chunk)
            guard message.count <= limit else {
                throw SendmailFailure(SysExit.unavailable, "Message size exceeds fixed maximum message size (\(limit)); the message was not sent")
            }
        }
        terminator.finish()
        if invocation.extractRecipients {
            let extracted: HeaderRecipients
            do {
                extracted = try HeaderRecipients.extract(message)
            } catch {
                throw SendmailFailure(SysExit.dataError, "Header section exceeds \(HeaderRecipients.maxHeader) octets")
            }
            message = extracted.message
            var seen = Set(extracted.recipients.map { $0.lowercased() })
            recipients = extracted.recipients + recipients.filter { seen.insert($0.lowercased()).inserted }
            guard !recipients.isEmpty else { throw SendmailFailure(SysExit.noUser, "No recipient addresses found in header") }
        }
        let request = Mailstack_Ipc_QueueSubmitLocal.with {
            $0.recipients = recipients.map { address in
                EnvelopeRecipient(address: address, notify: invocation.notify ?? []).ipc
            }
            if let sender = invocation.sender { $0.sender = sender }
            $0.fullName = invocation.fullName ?? ""
            $0.envid = invocation.envid ?? ""
            $0.ret = invocation.ret.ipc
            $0.body = invocation.body.ipc
        }
        let path = configuration.submitSocketPath
        if invocation.verbose { say(program, "submitting \(message.count) octets for \(recipients.count) recipient(s) to \(path)") }
        let id = try await submit(request, message: message, path: path)
        if invocation.verbose { say(program, "\(id) Message accepted for delivery") }
    }

    /// Hands the message to the queue; its id once the queue has it on disk.
    static func submit(_ request: Mailstack_Ipc_QueueSubmitLocal, message: [UInt8], path: String) async throws -> String {
        do {
            return try await QueueConnection.with(path: path, timeout: QueueConnection.submitTimeout) { client in
                try await submit(request, message: message, client: client)
            }
        } catch {
            throw QueueConnection.submitFailure(error, path: path)
        }
    }

    static func submit(_ request: Mailstack_Ipc_QueueSubmitLocal, message: [UInt8], client: IPCClient) async throws -> String {
        let body = AsyncStream<ByteBuffer> { continuation in
            continuation.yield(ByteBuffer(bytes: message))
            continuation.finish()
        }
        let reply = try await client.request(.queueSubmitLocal(request), streaming: body)
        guard case let .queueAccepted(accepted) = reply else { throw IPCError.protocolViolation("queue answered queue.submitLocal with \(reply)") }
        return accepted.queueID
    }

    // MARK: -bs

    /// An SMTP session on stdin and stdout; each message goes through submit.sock as -bm's.
    static func smtpSession(configuration: MailstackConfiguration, stdin: DescriptorReader) async throws {
        let path = configuration.submitSocketPath
        let user = userName(getuid())
        let greeting = configuration.loginMessage.replacingOccurrences(of: "$b", with: RFC5322Date.now())
        try await QueueConnection.with(path: path, timeout: QueueConnection.submitTimeout) { client in
            var session = LocalSMTPSession(hostname: configuration.fqdn, user: user,
                                           maxMessageSize: configuration.maxMessageSize, maxRecipients: configuration.maxRecipients)
            var lines = LineReader(reader: stdin)
            output(LocalSMTPSession.greeting(greeting.contains("ESMTP") ? greeting : greeting.replacingFirstWord { $0 + " ESMTP" }))
            while true {
                guard let line = await lines.next() else {
                    output(session.endOfInput())
                    return
                }
                switch session.line(line) {
                case .none:
                    continue
                case let .reply(text):
                    output(text)
                case let .close(text):
                    output(text)
                    return
                case let .submit(message):
                    let request = Mailstack_Ipc_QueueSubmitLocal.with {
                        $0.recipients = message.recipients.map(\.ipc)
                        $0.sender = message.sender
                        $0.envid = message.parameters.envid
                        $0.ret = message.parameters.ret.ipc
                        $0.body = message.parameters.body.ipc
                        $0.smtpSession = true
                        $0.helo = message.helo
                    }
                    do {
                        let id = try await submit(request, message: message.data, client: client)
                        output(session.submitted(id: id))
                    } catch {
                        output(session.submitted(failure: smtpReply(for: error)))
                    }
                }
            }
        }
    }

    /// The queue's refusal as an SMTP reply line (without CRLF).
    static func smtpReply(for error: Error) -> String {
        guard case let IPCError.remote(code, message)? = error as? IPCError else {
            return "451 4.3.0 Queue unavailable; try again later"
        }
        let text = String(message.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.prefix(300).map(Character.init))
        switch Mailstack_Ipc_Error.Code(rawValue: code) {
        case .badRequest?: return "554 5.0.0 \(text)"
        case .tooLarge?: return "552 5.3.4 \(text)"
        case .permissionDenied?, .notFound?: return "550 5.7.1 \(text)"
        case .insufficientStorage?: return "452 4.3.1 Insufficient system storage"
        default: return "451 4.3.0 \(text)"
        }
    }

    // MARK: -bp, -q, -bi

    static func printQueue(_ configuration: MailstackConfiguration) async throws {
        let path = configuration.socketPath(for: IPCServiceName.queue)
        let reply: IPCBody
        do {
            reply = try await QueueConnection.with(path: path, timeout: QueueConnection.adminTimeout) { try await $0.request(.queueList(.init())) }
        } catch {
            throw QueueConnection.adminFailure(error, path: path)
        }
        guard case let .queueListing(listing) = reply else { throw SendmailFailure(SysExit.software, "unexpected reply \(reply)") }
        output(MailqListing.format(listing.entries, now: Int64(time(nil))))
    }

    static func flush(_ queueID: String?, configuration: MailstackConfiguration, verbose: Bool, program: String) async throws {
        let path = configuration.socketPath(for: IPCServiceName.queue)
        let reply: IPCBody
        do {
            reply = try await QueueConnection.with(path: path, timeout: QueueConnection.adminTimeout) {
                try await $0.request(.queueFlush(.with { $0.queueID = queueID ?? "" }))
            }
        } catch {
            throw QueueConnection.adminFailure(error, path: path)
        }
        guard case let .queueFlushed(flushed) = reply else { throw SendmailFailure(SysExit.software, "unexpected reply \(reply)") }
        if verbose { say(program, "\(flushed.count) message\(flushed.count == 1 ? "" : "s") scheduled for delivery now") }
    }

    /// `mailstack newaliases` on maps.aliases: the same database, summary and exit codes.
    static func newAliases(_ configuration: MailstackConfiguration) throws {
        let file = configuration.aliasesFile
        do {
            let statistics = try NewAliases.build(source: file)
            say(nil, statistics.summary(for: file))
        } catch let error as AliasesError {
            if case .unreadable = error { throw SendmailFailure(SysExit.noInput, error.description) }
            throw SendmailFailure(SysExit.dataError, error.description)
        } catch let error as MapError {
            throw SendmailFailure(SysExit.cantCreate, error.description)
        }
    }

    // MARK: output

    /// `program: text` on stderr, one line each.
    static func say(_ program: String?, _ text: String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { (program.map { "\($0): " } ?? "") + $0 }
        write(2, lines.joined(separator: "\n") + "\n")
    }

    /// Text on stdout, written at once (the -bs client waits for each reply).
    static func output(_ text: String) { write(1, text) }

    static func write(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            bytes = bytes.dropFirst(n)
        }
    }

    /// The login name of a uid, else `uid N`.
    static func userName(_ uid: uid_t) -> String {
        SystemUser.withID(uid)?.name ?? "uid \(uid)"
    }
}

extension String {
    /// The text with its first word (up to the first space) changed.
    func replacingFirstWord(_ change: (String) -> String) -> String {
        let first = prefix { $0 != " " }
        return change(String(first)) + dropFirst(first.count)
    }
}
