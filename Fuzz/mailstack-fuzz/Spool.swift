import Crypto
import Foundation
import NIOPosix
import QueueService
import SMTP

/// The spool through its public API: an envelope, a body and a state made from the input are
/// written (`create`, `append`, `commit`, `write(state)`) and read back (`recover`, `body`).
/// Properties: exactly what was written comes back; nothing is reported corrupt. An envelope the
/// spool cannot carry is refused by `create`, before anything is acknowledged.
func fuzzSpool(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let envelope = makeEnvelope(&input)
    var state = QueueState()
    state.attempts = Int(Int16(bitPattern: UInt16(input.byte()) << 8 | UInt16(input.byte())))
    state.next = Int64(input.int(below: 1 << 16)) << 16
    state.warned = input.bool()
    state.lastError = input.string()
    for _ in 0..<input.int(below: 4) {
        state.finished[input.int(below: envelope.recipients.count + 2) - 1] = input.bool() ? .delivered : .failed
    }
    let body = input.rest()

    let directory = scratchDirectory("spool")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let (stored, corrupt, returnedBody) = try! runBlocking { [state] in
        let spool = try Spool(directory: directory, pool: SpoolPool.pool)
        _ = try await spool.recover() // as the queue starts: blanks made, so the message is written into one
        guard let writer = try? spool.create(envelope) else { return ([Spool.Stored](), [String](), [UInt8]?.none) }
        try await writer.append(body)
        try await writer.commit()
        try await spool.write(state, of: envelope.id)
        let (stored, _, corrupt) = try await spool.recover()
        let returned = stored.count == 1 ? try await spool.body(of: envelope.id, at: stored[0].location) : []
        return (stored, corrupt, returned)
    }
    guard let returnedBody else { return } // refused: never acknowledged
    check(corrupt.isEmpty, "a committed message was found corrupt: \(corrupt)")
    check(stored.count == 1, "\(stored.count) messages recovered")
    check(stored[0].envelope == envelope, "the envelope changed:\n\(envelope)\n\(stored[0].envelope)")
    check(stored[0].state == state, "the state changed:\n\(state)\n\(stored[0].state)")
    check(returnedBody == body, "the body changed")
}

/// A spool file from the input as msg/<id> (and a state file) at start. Properties: `recover`
/// moves it to corrupt/ or returns it under its own id with a body inside the file, or, when it
/// is empty (a delivered message's emptied file whose id's removal a power loss undid), removes
/// it; what it returns, written again, comes back the same. The same file as a blank (msg/.blank-7, what a
/// power loss leaves): removed, set aside, or recovered under the id its header names, only when
/// its end marker's sum matches.
func fuzzSpoolFile(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let stateFile = input.field()
    let file = input.rest()
    let id = "0ABCDEFGHIJKLM"
    let directory = scratchDirectory("spool-file")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let (first, second) = try! runBlocking {
        let spool = try Spool(directory: directory, pool: SpoolPool.pool)
        _ = FileManager.default.createFile(atPath: directory + "/msg/" + id, contents: Data(file))
        if !stateFile.isEmpty { _ = FileManager.default.createFile(atPath: directory + "/state/" + id, contents: Data(stateFile)) }
        let first = try await spool.recover()
        guard let message = first.messages.first else { return (first, first) }
        let body = try await spool.body(of: id, at: message.location)
        try await spool.remove(id)
        let writer = try spool.create(message.envelope)
        try await writer.append(body)
        try await writer.commit()
        try await spool.write(message.state, of: id)
        return (first, try await spool.recover())
    }
    if file.isEmpty {
        check(first.messages.isEmpty && first.corrupt.isEmpty, "an empty file under an id was recovered or set aside")
        check(!FileManager.default.fileExists(atPath: directory + "/msg/" + id), "an empty file under an id was left in msg/")
        fuzzSpoolBlank(file)
        return
    }
    check(first.messages.count + first.corrupt.count == 1, "the file was neither recovered nor set aside")
    guard let message = first.messages.first else { return }
    check(message.envelope.id == id, "recovered under the id \(message.envelope.id)")
    let marker = file.count - message.location.headerLength - message.location.bodyLength
    check(marker == 32 || marker == 97, "body outside the file")
    check(second.corrupt.isEmpty && second.messages.count == 1, "the recovered message, written again, is corrupt")
    check(second.messages[0].envelope == message.envelope, "envelope changed when written again")
    check(second.messages[0].state == message.state, "state changed when written again")
    fuzzSpoolBlank(file)
}

func fuzzSpoolBlank(_ file: [UInt8]) {
    let directory = scratchDirectory("spool-blank")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let recovered = try! runBlocking {
        let spool = try Spool(directory: directory, pool: SpoolPool.pool)
        _ = FileManager.default.createFile(atPath: directory + "/msg/.blank-7", contents: Data(file))
        return try await spool.recover()
    }
    check(recovered.messages.count + recovered.corrupt.count + recovered.removedTemporary <= 1, "one blank, more than one outcome")
    guard let message = recovered.messages.first else { return }
    check(file.count - message.location.headerLength - message.location.bodyLength == 97, "a blank recovered without a sum")
    let expected = SHA256.hash(data: file.dropLast(97)).map { String(format: "%02X", $0) }.joined()
    check(String(decoding: file.suffix(65).dropLast(), as: UTF8.self).uppercased() == expected, "a blank recovered whose sum does not match")
}

enum SpoolPool {
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()
}

/// An envelope as smtp-in submits one: a queue id, an arrival time, `ret` and `body` from their
/// fixed sets, a client name only with a client address, at least one recipient.
func makeEnvelope(_ input: inout FuzzInput) -> QueueEnvelope {
    let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    let id = String((0..<14).map { _ in alphabet[Int(input.byte()) % alphabet.count] })
    let arrival = 1 + Int64(input.int(below: 1 << 16)) << 15
    var envelope = QueueEnvelope(id: id, arrival: arrival, sender: input.string(), recipients: [])
    envelope.envid = input.string()
    envelope.ret = input.pick([nil, DSNReturn.full, .headers])
    envelope.body = input.pick([nil, SMTPBodyType.eightBitMIME, .sevenBit])
    envelope.smtputf8 = input.bool()
    envelope.clientAddress = input.string()
    envelope.clientName = envelope.clientAddress.isEmpty ? "" : input.string()
    envelope.helo = input.string()
    let distinct = 1 + input.int(below: 8)
    let repeats = 1 + input.int(below: 400)
    var recipients: [QueueEnvelope.Recipient] = []
    for _ in 0..<distinct {
        let notify = DSNNotify(rawValue: UInt32(input.byte() & 0x0F))
        recipients.append(.init(address: input.string(), notify: notify, orcpt: input.string()))
    }
    envelope.recipients = (0..<repeats).flatMap { _ in recipients }
    return envelope
}
