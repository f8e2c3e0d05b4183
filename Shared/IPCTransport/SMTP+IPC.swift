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
