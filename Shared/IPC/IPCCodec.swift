import NIOCore
import SwiftProtobuf

public typealias IPCEnvelope = Mailstack_Ipc_Envelope
public typealias IPCBody = Mailstack_Ipc_Envelope.OneOf_Body

/// Envelope <-> payload octets. Strict: a payload that does not decode is an error; an envelope
/// whose body this side does not know is reported as such so the receiver can answer
/// UNKNOWN_TYPE and carry on.
public enum IPCCodec {
    public static func encode(_ envelope: IPCEnvelope, allocator: ByteBufferAllocator = .init()) throws -> ByteBuffer {
        let bytes: [UInt8] = try envelope.serializedBytes()
        var buffer = allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        return buffer
    }

    /// Encodes `envelope` as a whole frame (length prefix included).
    public static func encodeFrame(_ envelope: IPCEnvelope, allocator: ByteBufferAllocator = .init()) throws -> ByteBuffer {
        let bytes: [UInt8] = try envelope.serializedBytes()
        var buffer = allocator.buffer(capacity: bytes.count + IPCLimits.lengthPrefix)
        buffer.writeInteger(UInt32(bytes.count), endianness: .big)
        buffer.writeBytes(bytes)
        return buffer
    }

    public static func decode(_ payload: ByteBuffer) throws -> IPCEnvelope {
        do {
            return try IPCEnvelope(serializedBytes: [UInt8](payload.readableBytesView))
        } catch {
            throw IPCError.undecodable(String(describing: error))
        }
    }
}

extension IPCEnvelope {
    public init(id: UInt64, body: IPCBody, streamFollows: Bool = false) {
        self.init()
        self.requestID = id
        self.body = body
        self.streamFollows = streamFollows
    }

    /// True when the envelope carried a body of a type this side does not know.
    public var hasUnknownBody: Bool { self.body == nil && !self.unknownFields.data.isEmpty }

    /// A short name of the body's type, for logs.
    public var typeName: String {
        guard let body else { return self.hasUnknownBody ? "unknown" : "empty" }
        switch body {
        case .hello: return "hello"
        case .error: return "error"
        case .chunk: return "chunk"
        case .ping: return "ping"
        case .pong: return "pong"
        case .dracLookup: return "drac.lookup"
        case .dracAdd: return "drac.add"
        case .dracDelete: return "drac.delete"
        case .dracFlush: return "drac.flush"
        case .dracList: return "drac.list"
        case .dracLookupReply: return "drac.lookupReply"
        case .dracEntry: return "drac.entry"
        case .dracCount: return "drac.count"
        case .dracEntries: return "drac.entries"
        case .policyConnect: return "policy.connect"
        case .policyMail: return "policy.mail"
        case .policyRcpt: return "policy.rcpt"
        case .policyVerdict: return "policy.verdict"
        case .policyResolve: return "policy.resolve"
        case .policyResolution: return "policy.resolution"
        case .policyAuth: return "policy.auth"
        case .policyAuthReply: return "policy.authReply"
        case .policyTxt: return "policy.txt"
        case .policyTxtReply: return "policy.txtReply"
        case .queueSubmit: return "queue.submit"
        case .queueAccepted: return "queue.accepted"
        case .queueList: return "queue.list"
        case .queueListing: return "queue.listing"
        case .queueFlush: return "queue.flush"
        case .queueFlushed: return "queue.flushed"
        case .queueSubmitLocal: return "queue.submitLocal"
        case .feedDeliver: return "feed.deliver"
        case .feedResult: return "feed.result"
        case .localDeliver: return "local.deliver"
        case .localResult: return "local.result"
        }
    }
}

extension IPCBody {
    public static func error(_ code: Mailstack_Ipc_Error.Code, _ message: String) -> IPCBody {
        var e = Mailstack_Ipc_Error()
        e.code = code
        e.message = message
        return .error(e)
    }

    public static func hello(service: String, maxFrame: Int) -> IPCBody {
        var h = Mailstack_Ipc_Hello()
        h.protocolVersion = IPCProtocol.version
        h.service = service
        h.maxFrame = UInt32(maxFrame)
        return .hello(h)
    }
}
