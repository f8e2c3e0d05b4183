// dkim-bench: the CPU cost of DKIM per message, signing (what smtpfeed-out adds to each message
// of a signed domain) and verifying (what an inbound check adds), for rsa-sha256 (2048 bits)
// and ed25519-sha256, on 2 KB and 50 KB messages. Not a test: numbers. One line per case:
//   sign rsa-sha256 2 KB    1234.5 µs/msg   810 msg/s
import DKIM
import Foundation

let iterations = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 200 : 200

func message(size: Int) -> [UInt8] {
    var text = "Received: from client.test ([127.0.0.1])\r\n\tby host.domain1.com with ESMTP id 0001; Tue, 1 Dec 2026 10:00:00 +0000\r\n"
        + "From: <load@domain1.com>\r\nTo: <rcpt@remote.test>\r\nSubject: dkim-bench\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n"
        + "Message-ID: <bench@domain1.com>\r\n\r\n"
    let line = String(repeating: "X", count: 76) + "\r\n"
    while text.utf8.count < size { text += line }
    return Array(text.utf8)
}

func measure(_ label: String, _ work: () async throws -> Void) async rethrows {
    try await work() // warm up
    let clock = ContinuousClock()
    let elapsed = try await clock.measure { for _ in 0..<iterations { try await work() } }
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let each = seconds / Double(iterations)
    print("\(label.padding(toLength: 30, withPad: " ", startingAt: 0)) \(String(format: "%9.1f", each * 1e6)) µs/msg \(String(format: "%9.0f", 1 / each)) msg/s")
}

for algorithm in DKIMAlgorithm.allCases {
    let key = try DKIMPrivateKey.generate(algorithm)
    let signer = DKIMSigner(keys: [DKIMSigningKey(domain: "domain1.com", selector: "bench", key: key)])
    let record = [DKIMKeyRecord.text(for: key)]
    let verifier = DKIMVerifier { _ in record }
    for size in [2048, 51200] {
        let octets = message(size: size)
        let signed = try signer.sign(octets)
        try await measure("sign \(algorithm.rawValue) \(size / 1024) KB") { _ = try signer.signatureFields(for: octets) }
        await measure("verify \(algorithm.rawValue) \(size / 1024) KB") {
            guard await verifier.verify(signed).first?.kind == .pass else { fatalError("dkim-bench: our signature did not verify") }
        }
    }
}
