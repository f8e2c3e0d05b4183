import Foundation
import IPC
import Listeners
import NIOCore

/// A request whose body is sent by its producer as it is produced (`IPCClient.upload`): the
/// request goes out at once; the body is gathered into chunks of `IPCLimits.maxChunk` octets,
/// each written when full; `finish` writes what is left and the end of the stream in one write,
/// then waits for the reply. A message smaller than a chunk so costs the peer one wake-up at its
/// end instead of one per piece, and no task stands between the producer and the connection
/// (smtp-in's DATA: the octets of a 2 KB message reach the queue in one segment at the final
/// dot, as Postfix's smtpd buffers its records to cleanup). Used by one task at a time.
public final class IPCUpload: @unchecked Sendable {
    let connection: IPCClientConnection
    let id: UInt64
    let reply: EventLoopFuture<IPCBody>
    let service: String
    /// The part of the body not yet written (less than a chunk).
    private var pending = ByteBuffer()
    /// Set once the request failed or ended: nothing more is written.
    private var closed = false

    init(connection: IPCClientConnection, id: UInt64, reply: EventLoopFuture<IPCBody>, service: String) {
        self.connection = connection
        self.id = id
        self.reply = reply
        self.service = service
    }

    /// Adds `buffer` to the body; writes the chunks it completes (waiting while the connection
    /// is full). Throws once the request has failed (the connection lost, the reply's deadline
    /// passed); its error is `finish`'s too.
    public func send(_ buffer: ByteBuffer) async throws {
        var buffer = buffer
        while buffer.readableBytes > 0 {
            guard !closed else { throw await failure() }
            var piece = buffer.readSlice(length: min(IPCLimits.maxChunk - pending.readableBytes, buffer.readableBytes))!
            pending.writeBuffer(&piece)
            if pending.readableBytes == IPCLimits.maxChunk { try await write(chunk: pendingChunk(), flush: .now) }
        }
    }

    /// Ends the body and returns the reply's body (an Error reply thrown as `IPCError.remote`).
    public func finish() async throws -> IPCBody {
        if !closed {
            if pending.readableBytes > 0 { try? await write(chunk: pendingChunk(), flush: .later) }
            var last = Mailstack_Ipc_StreamChunk()
            last.last = true
            try? await write(chunk: last, flush: .now)
            closed = true
        }
        return try IPCClient.unwrap(await reply.get())
    }

    /// Gives the request up with `error` (the producer's, what `finish` throws from now on): the
    /// peer is told to discard what it received; its answer to that is dropped.
    public func abort(_ error: Error) async {
        guard !closed else { return }
        closed = true
        connection.fail(id, error)
        var abort = Mailstack_Ipc_StreamChunk()
        abort.abort = true
        try? await connection.writer.write(IPCCodec.encodeFrame(IPCEnvelope(id: id, body: .chunk(abort))))
    }

    private func pendingChunk() -> Mailstack_Ipc_StreamChunk {
        var chunk = Mailstack_Ipc_StreamChunk()
        chunk.data = Data(pending.readableBytesView)
        pending.clear()
        return chunk
    }

    /// Writes one chunk. A write fails only when the connection is going: its end (or the
    /// deadline) settles the request, with the peer's answer when that was read first (a refusal
    /// sent before it closed the connection); that error is thrown.
    private func write(chunk: Mailstack_Ipc_StreamChunk, flush: ChannelIO<ByteBuffer>.Flush) async throws {
        do {
            try await connection.writer.write(IPCCodec.encodeFrame(IPCEnvelope(id: id, body: .chunk(chunk))), flush: flush)
        } catch {
            closed = true
            throw await failure()
        }
    }

    /// The error the request failed with.
    private func failure() async -> Error {
        do {
            _ = try await reply.get()
            return IPCError.protocolViolation("\(service) answered before the end of the stream")
        } catch {
            return error
        }
    }
}

extension IPCClient {
    /// Sends `request`, announcing a body to follow through the returned upload.
    public func upload(_ request: IPCBody, timeout: Duration? = nil) async throws -> IPCUpload {
        let timeout = timeout ?? configuration.requestTimeout
        let (connection, id, reply) = try await register(timeout: timeout)
        do {
            try await connection.writer.write(IPCCodec.encodeFrame(IPCEnvelope(id: id, body: request, streamFollows: true)))
        } catch {
            let failure = (error as? IPCError) ?? IPCError.connectionLost(service: configuration.service)
            connection.fail(id, failure)
            throw failure
        }
        return IPCUpload(connection: connection, id: id, reply: reply, service: configuration.service)
    }
}
