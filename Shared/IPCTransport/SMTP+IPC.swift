import IPC
import SMTP

// The IPC edge of the one reply vocabulary: services keep `SMTPReply` and `DeliveryResult` as
// their own state and meet the generated messages only here.

extension SMTPReply {
    /// A reply as relay-policy sends it (code, enhanced code, client text, log reason).
    public init(_ message: Mailstack_Ipc_PolicyReply) {
        self.init(code: Int(message.code), enhanced: message.enhanced, message.text, reason: message.reason)
    }

    public var ipc: Mailstack_Ipc_PolicyReply {
        .with {
            $0.code = UInt32(clamping: code)
            $0.enhanced = enhanced
            $0.text = text
            $0.reason = reason
        }
    }
}

extension SMTPReply {
    /// local-delivery's answer to the queue (code, enhanced code, the text for the DSN and the log).
    public init(_ message: Mailstack_Ipc_LocalResult) {
        self.init(code: Int(message.code), enhanced: message.enhanced, message.text)
    }

    public var localResult: Mailstack_Ipc_LocalResult {
        .with {
            $0.code = UInt32(clamping: code)
            $0.enhanced = enhanced
            $0.text = text
        }
    }
}

extension DeliveryResult {
    /// A recipient's result as smtpfeed-out reports it to the queue.
    public init(_ message: Mailstack_Ipc_FeedRecipientResult) {
        self.init(code: Int(message.code), enhanced: message.enhanced, text: message.text,
                  relay: message.relay, dsnPassedOn: message.dsnPassedOn)
    }

    public func ipc(address: String) -> Mailstack_Ipc_FeedRecipientResult {
        .with {
            $0.address = address
            $0.code = UInt32(clamping: code)
            $0.enhanced = enhanced
            $0.text = text
            $0.relay = relay
            $0.dsnPassedOn = dsnPassedOn
        }
    }
}

extension EnvelopeRecipient {
    public init(_ message: Mailstack_Ipc_Recipient) {
        self.init(address: message.address, notify: DSNNotify(rawValue: message.notify), orcpt: message.orcpt)
    }

    public var ipc: Mailstack_Ipc_Recipient {
        .with {
            $0.address = address
            $0.notify = notify.rawValue
            $0.orcpt = orcpt
        }
    }
}

extension DSNReturn {
    /// Nil for RET not given.
    public init?(_ message: Mailstack_Ipc_DSNReturn) {
        switch message {
        case .retFull: self = .full
        case .retHdrs: self = .headers
        default: return nil
        }
    }
}

extension Optional where Wrapped == DSNReturn {
    public var ipc: Mailstack_Ipc_DSNReturn {
        switch self {
        case .full?: .retFull
        case .headers?: .retHdrs
        case nil: .retUnspecified
        }
    }
}

extension SMTPBodyType {
    /// Nil for BODY not given.
    public init?(_ message: Mailstack_Ipc_BodyType) {
        switch message {
        case .body8Bitmime: self = .eightBitMIME
        case .body7Bit: self = .sevenBit
        default: return nil
        }
    }
}

extension Optional where Wrapped == SMTPBodyType {
    public var ipc: Mailstack_Ipc_BodyType {
        switch self {
        case .eightBitMIME?: .body8Bitmime
        case .sevenBit?: .body7Bit
        case nil: .bodyUnspecified
        }
    }
}

extension MailRoute {
    /// A mailertable answer; a `local:` entry never reaches smtpfeed-out (relay-policy delivers
    /// it locally), so one here is an error of ours.
    public init(_ message: Mailstack_Ipc_PolicyRouteReply) {
        switch message.kind {
        case .smtp: self = .smtp(host: message.host, mxLookup: message.mxLookup, port: message.port == 0 ? nil : Int(message.port))
        case .error: self = .error(SMTPReply(message.error))
        case .local: self = .error(SMTPReply(554, "5.3.5", "mailertable local: route \(message.key) reached smtpfeed-out"))
        default: self = .mx
        }
    }

    public var ipc: Mailstack_Ipc_PolicyRouteReply {
        .with {
            switch self {
            case .mx: $0.kind = .none
            case let .smtp(host, mxLookup, port):
                $0.kind = .smtp
                $0.host = host
                $0.mxLookup = mxLookup
                $0.port = UInt32(clamping: port ?? 0)
            case let .error(reply):
                $0.kind = .error
                $0.error = reply.ipc
            }
        }
    }
}

extension MailTarget {
    public init(_ message: Mailstack_Ipc_PolicyDelivery) {
        let kind: Kind = switch message.kind {
        case .mailbox: .mailbox(message.mailbox)
        case .remote: .remote(address: message.address, route: message.hasRoute ? MailRoute(message.route) : .mx)
        case .program: .program(message.target)
        case .file: .file(message.target)
        case .error, .UNRECOGNIZED: .error(SMTPReply(message.error))
        }
        self.init(kind, alias: message.alias, sender: message.sender.isEmpty ? nil : message.sender)
    }

    public var ipc: Mailstack_Ipc_PolicyDelivery {
        .with {
            switch kind {
            case let .mailbox(user):
                $0.kind = .mailbox
                $0.mailbox = user
            case let .remote(address, route):
                $0.kind = .remote
                $0.address = address
                $0.route = route.ipc
            case let .program(command):
                $0.kind = .program
                $0.target = command
            case let .file(path):
                $0.kind = .file
                $0.target = path
            case let .error(reply):
                $0.kind = .error
                $0.error = reply.ipc
            }
            $0.alias = alias
            $0.sender = sender ?? ""
        }
    }
}
