/// The contents of an `:include:` file, as sendmail's include() reads it: each line a target
/// list (one target or several, comma-separated, with AliasTargetParser's grammar), `#` lines
/// and blank lines skipped. There are no continuation lines: each line stands alone.
///
///     include-file = *( ( comment-line / blank-line / target-list ) LF )
///     comment-line = *WSP "#" *octet
///     blank-line   = *WSP
///
/// Bounded (1 MiB); any bad line makes the whole file invalid, each problem named by file and
/// line. Whether the file may be trusted (its owner, its mode) is for the caller to decide.
public enum AliasIncludeFile {
    /// An :include: file larger than this is refused (a list of many thousand addresses fits).
    public static let maxFileSize = 1 << 20

    /// Every target of the file, in order.
    public static func parse(_ bytes: [UInt8], file: String) throws -> [AliasTarget] {
        guard bytes.count <= maxFileSize else { throw AliasesError.tooLarge(path: file, size: bytes.count, limit: maxFileSize) }
        var targets: [AliasTarget] = []
        var errors: [AliasesError] = []
        for (index, line) in bytes.split(separator: AliasBytes.newline, omittingEmptySubsequences: false).enumerated() {
            let content = AliasBytes.trimmed(line)
            if content.isEmpty || content.first == AliasBytes.hash { continue }
            do {
                targets += try AliasTargetParser.parseList(line)
            } catch {
                let reason = error.reason.hasPrefix("control character 0x0D")
                    ? "control character 0x0D (CR): the file has CRLF line ends; convert it to LF" : error.reason
                errors.append(.syntax(file: file, line: index + 1, reason: reason))
            }
        }
        if errors.count == 1 { throw errors[0] }
        if !errors.isEmpty { throw AliasesError.invalidSource(errors) }
        return targets
    }

    /// Reads and parses the file at `path` (a regular file, at most `maxFileSize` octets): the
    /// `readInclude` an `AliasExpander` is usually given.
    public static func read(path: String) throws -> [AliasTarget] {
        try parse(try BoundedFile.read(path, limit: maxFileSize), file: path)
    }
}
