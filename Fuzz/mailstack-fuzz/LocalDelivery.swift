import Foundation
import LocalDeliveryService

/// local-delivery's command-line grammar (`ProgramCommand.parse`) on any alias program line.
///
/// Properties: an accepted line gives at least one word, the first not empty, and no word holds
/// a control character or a shell metacharacter (nothing a shell would act on reaches exec);
/// a line holding a metacharacter or a control character is refused; the words, each quoted
/// again as a shell would (`'...'`, `'\''` for a quote), parse back to the same words.
func fuzzProgramCommand(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let line = input.string()
    let command: ProgramCommand
    do {
        command = try ProgramCommand.parse(line)
    } catch {
        return
    }
    check(!command.words.isEmpty && !command.words[0].isEmpty, "accepted with no program: \(line.debugDescription)")
    for word in command.words {
        check(!word.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) },
              "control character in word \(word.debugDescription) of \(line.debugDescription)")
        check(!word.unicodeScalars.contains(where: ProgramCommand.metacharacters.contains), "metacharacter in word \(word.debugDescription)")
    }
    let quoted = command.words.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
    let again = try? ProgramCommand.parse(quoted)
    check(again?.words == command.words, "quoted again \(quoted.debugDescription) parses to \(String(describing: again?.words))")
}
