import SMTP

/// Getting a connection ready for a transaction: from the idle pool or new, greeted, EHLO done,
/// not to this host itself, with the TLS the destination's policy asks for.
extension Feed {
    struct Refusal: Error {
        var reply: DeliveryResult
        /// The host is to be skipped for a while (it could not be reached or refused to talk).
        var backoff: Bool
    }

    /// A ready connection to `host` at `address`, or why there is none.
    func connection(host: String, address: String, port: Int, tls: OutboundTLSPolicy) async -> Swift.Result<SMTPClient, Refusal> {
        let key = "\(tls.poolKey) \(host) \(address):\(port)"
        if let reused = takeIdle(key) {
            do {
                try await reused.send("RSET\r\n")
                if try await reused.reply(within: settings.commandTimeout).code == 250 { return .success(reused) }
            } catch {}
            await reused.close()
        }
        let client: SMTPClient
        do {
            client = try await SMTPClient.connect(host: host, address: address, port: port, key: key, timeout: settings.connectTimeout)
            opened.add(1, ordering: .relaxed)
        } catch {
            return .failure(Refusal(reply: DeliveryResult(code: 451, enhanced: "4.4.1", text: "Connection to \(host) [\(address)]:\(port) failed: \(error)"),
                                    backoff: true))
        }
        func refuse(_ reply: SMTPReply, backoff: Bool) async -> Swift.Result<SMTPClient, Refusal> {
            await client.close()
            return .failure(Refusal(reply: DeliveryResult(code: reply.code, enhanced: reply.enhanced, text: reply.text), backoff: backoff))
        }
        do {
            let greeting = try await client.reply(within: settings.commandTimeout)
            guard greeting.code == 220 else { return await refuse(greeting, backoff: true) }
            if namesUs(greeting) { return await loopsBack(client, host: host) }
            var hello = try await client.hello(settings.hostname, timeout: settings.commandTimeout)
            guard hello.code == 250 else { return await refuse(hello, backoff: false) }
            if namesUs(hello) { return await loopsBack(client, host: host) }
            if client.offers("STARTTLS") {
                do {
                    if try await client.startTLS(try self.tls.setup(for: tls, host: host), timeout: settings.commandTimeout).code == 220 {
                        hello = try await client.hello(settings.hostname, timeout: settings.commandTimeout)
                        guard hello.code == 250 else { return await refuse(hello, backoff: false) }
                    }
                } catch let failure as STARTTLSHandler.Failure {
                    // Not a reason to skip the host for other mail: its certificate may be good
                    // enough for opportunistic TLS, and a pin of one domain says nothing of others.
                    logger.warning("\(client.relay): TLS (\(tls)) failed: \(failure); deferred")
                    let enhanced = tls.isMandatory ? "4.7.5" : "4.7.0"
                    return await refuse(SMTPReply(451, enhanced, "TLS with \(client.relay) failed: \(failure)"), backoff: false)
                }
            }
            if tls.isMandatory && !client.tls {
                return await refuse(SMTPReply(451, "4.7.5", "TLS is required for this destination and \(host) does not offer it"), backoff: false)
            }
            return .success(client)
        } catch {
            await client.close()
            return .failure(Refusal(reply: DeliveryResult(code: 451, enhanced: "4.4.2", text: "\(host) [\(address)]: \(error)"), backoff: true))
        }
    }

    /// The reply's first word is our own name ($j): the greeting or EHLO of this very host.
    func namesUs(_ reply: SMTPReply) -> Bool {
        guard let name = reply.lines.first?.split(separator: " ", maxSplits: 1).first else { return false }
        return Self.sameHost(String(name), settings.hostname)
    }

    /// Host names compared as DNS compares them: case-insensitive, a final dot ignored.
    static func sameHost(_ a: String, _ b: String) -> Bool {
        func canonical(_ name: String) -> String { (name.hasSuffix(".") ? String(name.dropLast()) : name).lowercased() }
        return canonical(a) == canonical(b)
    }

    /// sendmail's answer when it finds itself at the other end (usersmtp.c): a configuration
    /// error, permanent, so the queue returns the mail instead of sending it around in a loop.
    func loopsBack(_ client: SMTPClient, host: String) async -> Swift.Result<SMTPClient, Refusal> {
        logger.error("SYSERR: \(client.relay): 553 5.3.5 \(host) config error: mail loops back to me (MX problem?)")
        try? await client.send("QUIT\r\n")
        await client.close()
        return .failure(Refusal(reply: DeliveryResult(code: 553, enhanced: "5.3.5", text: "\(host) config error: mail loops back to me (MX problem?)",
                                              relay: client.relay), backoff: false))
    }

    func takeIdle(_ key: String) -> SMTPClient? {
        idle.withLock { pool in
            while var list = pool[key], !list.isEmpty {
                let client = list.removeLast()
                pool[key] = list.isEmpty ? nil : list
                if ContinuousClock.now - client.lastUsed < settings.idleTime { return client }
                Task { await client.close() }
            }
            return nil
        }
    }

    func release(_ client: SMTPClient) {
        client.lastUsed = .now
        let kept = idle.withLock { pool -> Bool in
            guard pool.values.map(\.count).reduce(0, +) < settings.idleConnections else { return false }
            pool[client.key, default: []].append(client)
            return true
        }
        if !kept { Task { await client.close() } }
    }
}
