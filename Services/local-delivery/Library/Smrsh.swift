#if canImport(Glibc)
import Glibc
#endif
import SMTP

/// smrsh's rule (sendmail's restricted shell): a program may run only if its command's first
/// word's basename is an entry of the smrsh directory (a symbolic link or a file an
/// administrator put there), and what runs is that entry, never the path the alias wrote:
/// `|/tmp/evil/mlmmj-receive -L x` runs `<directory>/mlmmj-receive -L x`, or nothing.
public struct Smrsh: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public enum Lookup: Sendable, Equatable {
        /// The program's argv, argv[0] the entry's path.
        case run([String])
        case refused(SMTPReply)
    }

    public func lookup(_ command: ProgramCommand) -> Lookup {
        let name = command.programName
        guard !name.isEmpty, name != ".", name != ".." else { return .refused(refusal(name, "")) }
        let entry = directory + "/" + name
        var info = stat()
        guard stat(entry, &info) == 0 else { return .refused(refusal(name, "")) }
        guard info.st_mode & S_IFMT == S_IFREG else { return .refused(refusal(name, "not a regular file; ")) }
        return .run([entry] + command.words.dropFirst())
    }

    /// `554 5.0.0 smrsh: "foo" not available for mailstack programs (only programs in
    /// /etc/mailstack/smrsh may run)`: EX_UNAVAILABLE, as smrsh exited.
    func refusal(_ name: String, _ why: String) -> SMTPReply {
        SMTPReply(554, "5.0.0", "smrsh: \"\(name)\" not available for mailstack programs (\(why)only programs in \(directory) may run)")
    }

    /// A command line smrsh would not even look up: `554 5.0.0 smrsh: cannot use ";" in a command ...`.
    static func refusal(_ problem: ProgramCommand.Refusal) -> SMTPReply {
        SMTPReply(554, "5.0.0", "smrsh: \(problem)")
    }
}
