#if canImport(Glibc)
import Glibc
#endif
import Crypto
import Maildir

/// Moves one mbox into one Maildir (`mailstack import-mbox`). The mbox is only read. Each
/// message is stored whole (tmp/, fsync, rename) under a name derived from its content, and the
/// keys of imported messages are kept in `<maildir>/mailstack-imported`, so an import that was
/// interrupted, or run again later on a spool that has grown, stores each message once and never
/// brings back one a POP3 client has deleted since.
public struct MboxImporter {
    public struct Options: Sendable {
        public var format: MboxFormat = .mboxo
        /// qpopper's `old-style-uid` (hex UIDLs, no second From line in the hash).
        public var oldStyleUIDs = false
        /// Seconds to wait for a locked mbox before refusing.
        public var wait: Double = 0
        /// Report only: nothing is written.
        public var dryRun = false
        /// Owner of what is created (set when run as root: the owner of the Maildir root).
        public var owner: (uid: uid_t, gid: gid_t)? = nil
        public init() {}
    }

    public struct Report: Sendable, Equatable {
        public var messages = 0
        public var imported = 0
        public var alreadyImported = 0
        public var octets = 0
        public var uidlsFromHeader = 0
        public var uidlsComputed = 0
        /// Messages whose qpopper UIDL another message of the mailbox already has: they get a
        /// UIDL of ours (RFC 1939 wants them unique; the client downloads them once more).
        public var uidlsDuplicate = 0

        public var summary: String {
            "\(messages) messages, \(imported) imported (\(octets) octets), \(alreadyImported) already imported; "
                + "UIDLs: \(uidlsFromHeader) from X-UIDL, \(uidlsComputed) computed as qpopper did"
                + (uidlsDuplicate > 0 ? ", \(uidlsDuplicate) duplicate (given new ones)" : "")
        }
    }

    public let maildir: Maildir
    public let options: Options
    /// Import time (seconds): no message is dated later.
    public let now: Int

    public init(maildir: Maildir, options: Options, now: Int) {
        self.maildir = maildir
        self.options = options
        self.now = now
    }

    public func run(mbox path: String, waiting: (String) -> Void = { _ in }) throws -> Report {
        let file = try MboxFile(path: path, wait: options.wait, waiting: waiting)
        var journal: ImportJournal? = nil
        if !options.dryRun {
            try maildir.create(owner: options.owner)
            journal = try ImportJournal(maildir: maildir, owner: options.owner)
        }
        return try file.withBytes { bytes in
            let (items, planned) = try plan(bytes, imported: journal?.keys ?? ImportJournal.read(maildir))
            var report = planned
            guard let journal, !items.isEmpty else { return report }
            for item in items { // one message in memory at a time
                let content = MboxParser.unquoted(bytes, item.span, format: options.format)
                try maildir.store(content, base: item.base, uidl: item.uidl, flags: item.flags, mtime: item.mtime, owner: options.owner)
                report.imported += 1
                report.octets += content.count
            }
            try maildir.syncFolders()
            try journal.append(items.map(\.key))
            return report
        }
    }

    struct Item {
        var span: MboxParser.Span
        var key: String
        var base: String
        var uidl: String?
        var flags: String?
        var mtime: Int
    }

    /// What the import of `bytes` does: the messages not imported yet, with names and UIDLs.
    func plan(_ bytes: UnsafeRawBufferPointer, imported journal: Set<String>) throws -> (messages: [Item], report: Report) {
        var report = Report()
        let spans = try MboxParser.split(bytes, format: options.format)
        report.messages = spans.count
        // One listing of the Maildir: keys already imported (the journal's and those in names)
        // and the UIDLs pop3 already answers.
        let present = maildir.exists ? try maildir.uniqueNames() : []
        let done = journal.union(present.compactMap(Self.key(inName:)))
        var used = Set(present.map { Maildir.uidl(ofUnique: $0) })
        var occurrences: [String: Int] = [:]
        var lastTime = 0
        var items: [Item] = []
        for span in spans {
            let content = MboxParser.unquoted(bytes, span, format: options.format)
            let fromLine = UnsafeRawBufferPointer(rebasing: bytes[span.fromLine])
            let digest = QpopperUIDL.hex(Array(SHA256.hash(data: content).prefix(10)))
            occurrences[digest, default: 0] += 1
            let key = digest + "-" + String(occurrences[digest]!)
            // Arrival order: the From line's date, never earlier than the message before it
            // (pop3 lists by mtime) and never later than now. The name has the date before the
            // last clamp, so that a run again writes the same names.
            let date = max(FromLineDate.parse(fromLine) ?? lastTime, lastTime)
            lastTime = date
            if done.contains(key) {
                report.alreadyImported += 1
                continue
            }
            let (qpopper, source) = QpopperUIDL.uidl(stored: UnsafeRawBufferPointer(rebasing: bytes[span.stored]),
                                                     fromLine: fromLine, oldStyle: options.oldStyleUIDs)
            var uidl: String? = qpopper
            if used.contains(qpopper) {
                uidl = nil
                report.uidlsDuplicate += 1
            } else {
                used.insert(qpopper)
                if source == .header { report.uidlsFromHeader += 1 } else { report.uidlsComputed += 1 }
            }
            let message = MboxMessage(ordinal: span.ordinal, fromLine: Array(fromLine), content: content)
            let flags = message.maildirFlags
            items.append(Item(span: span, key: key, base: "\(date).M0P0Q\(span.ordinal).mbox-\(key)", uidl: uidl,
                              flags: message.isOld || !flags.isEmpty ? flags : nil, mtime: min(date, now)))
        }
        return (items, report)
    }

    /// The keys in the names of messages present (an import that stopped before writing its
    /// journal left them there).
    static func key(inName name: String) -> String? {
        let base = name.prefix { $0 != "," }
        return base.range(of: ".mbox-").map { String(base[$0.upperBound...]) }
    }
}

