/// A sendmail class file (`F{VirtHost} -o /etc/mail/virtuser-domains`): every word of every
/// line, up to a `#`, is a member; members are folded to lower case, as sendmail compares
/// class members.
public enum ClassFile {
    /// The largest class file read (virtuser-domains): some 200,000 domains.
    public static let maxFileSize = 16 << 20

    /// The members named in `text`, in order, each once.
    public static func members(of text: String) -> [String] {
        var seen = Set<String>()
        var members: [String] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let content = line.prefix { $0 != "#" }
            for word in content.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                let member = word.lowercased()
                if seen.insert(member).inserted { members.append(member) }
            }
        }
        return members
    }
}
