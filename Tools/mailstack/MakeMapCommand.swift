import ArgumentParser
import Foundation
import Logging
import MailstackConfig
import MailstackMaps
import MailstackPostgres

/// `mailstack makemap [-f] [-N] [-u] [-e] [-r] [-o] [-t C] hash|btree MAP < TEXT`, with
/// sendmail's makemap(8) meaning of each flag; with `--pgsql`, MAP (access, virtusertable,
/// mailertable, virtuser-domains) is loaded into the shared PostgreSQL tables as its next
/// generation, in one transaction (the database from --config / --set, the password from
/// pgsql.password_file). virtuser-domains is read as sendmail reads the class file (every
/// word of a line up to `#` a domain), not as key/value lines.
struct MakeMapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "makemap",
        abstract: "Build (or dump with -u) a Berkeley DB map from text, as sendmail's makemap."
    )

    @Flag(name: .customShort("f"), help: "Do not fold keys to lower case.") var noFold = false
    @Flag(name: .customShort("N"), help: "Include a trailing NUL in keys and values.") var nul = false
    @Flag(name: .customShort("u"), help: "Dump the map as text instead of building it.") var unmap = false
    @Flag(name: .customShort("e"), help: "Allow empty values.") var allowEmpty = false
    @Flag(name: .customShort("r"), help: "Replace duplicate keys (the last wins) instead of failing.") var replace = false
    @Flag(name: .customShort("o"), help: "Append to the existing map.") var append = false
    @Option(name: .customShort("t"), help: "Key/value delimiter instead of white space.") var delimiter: String?
    @Option(name: .customShort("C"), help: "Ignored (sendmail's configuration file), for drop-in use.") var sendmailConfig: String?
    @Flag(name: .customShort("v"), help: "Print each entry as it is added.") var verbose = false

    @Flag(help: "Load MAP (access, virtusertable, mailertable, virtuser-domains) into the shared PostgreSQL tables instead of a file.") var pgsql = false
    @Option(help: "Configuration file, for --pgsql (default: /etc/mailstack/mailstack.yaml if it exists).") var config: String?
    @Option(name: .customLong("set"), help: "Override one configuration key, for --pgsql: section.key=value.") var overrides: [String] = []

    @Argument(help: "Map type: hash or btree.") var type: String
    @Argument(help: "Map name; the file is NAME.db.") var map: String

    func run() async throws {
        guard let kind = BerkeleyDB.Kind(rawValue: type) else {
            throw ValidationError("makemap: unknown map type \(type) (hash or btree)")
        }
        var options = MakeMap.Options()
        options.foldCase = !noFold
        options.nulTerminate = nul
        options.allowEmptyValue = allowEmpty
        options.replaceDuplicates = replace
        options.append = append
        if let delimiter {
            guard delimiter.utf8.count == 1 else { throw ValidationError("makemap: -t takes one character") }
            options.delimiter = delimiter.utf8.first
        }
        do {
            if unmap {
                FileHandle.standardOutput.write(Data(try MakeMap.dump(map, kind: kind, options: options)))
                return
            }
            let input = FileHandle.standardInput.readDataToEndOfFile()
            let entries = pgsql && map == "virtuser-domains"
                ? ClassFile.members(of: String(decoding: input, as: UTF8.self)).enumerated().map {
                    MakeMap.Entry(key: Array($0.element.utf8), value: [], line: $0.offset + 1)
                }
                : try MakeMap.parse(Array(input), file: map, options: options)
            if verbose {
                for entry in entries {
                    FileHandle.standardError.write(Data("key=`\(String(decoding: entry.key, as: UTF8.self))', val=`\(String(decoding: entry.value, as: UTF8.self))'\n".utf8))
                }
            }
            if pgsql {
                try await load(entries)
                return
            }
            try MakeMap.write(entries, to: map, kind: kind, options: options)
        } catch let error as MapError {
            FileHandle.standardError.write(Data(error.description.split(separator: "\n").map { "makemap: \($0)\n" }.joined().utf8))
            throw ExitCode(65) // EX_DATAERR, as sendmail's makemap
        }
    }

    /// The whole load within this (a large map, a busy database); pgsql.timeout is for services.
    static let loadTimeout = Duration.seconds(300)

    func load(_ entries: [MakeMap.Entry]) async throws {
        guard PostgresMapLoader.mapNames.contains(map), map != "aliases", !append, !unmap else {
            throw ValidationError("makemap: --pgsql loads access, virtusertable, mailertable or virtuser-domains, whole (no -o, no -u)")
        }
        let generation = try await Self.load(entries, map: map, config: config, overrides: overrides)
        print("\(map): generation \(generation), \(entries.count) entries")
    }

    /// Loads `entries` as `map`'s next generation (makemap --pgsql, newaliases --pgsql); exits 78
    /// on a bad configuration, 75 when the database cannot take it (nothing changed).
    static func load(_ entries: [MakeMap.Entry], map: String, config: String?, overrides: [String]) async throws -> Int64 {
        guard entries.count <= PostgresMap.maxEntries else {
            FileHandle.standardError.write(Data("makemap: \(map): \(entries.count) entries; a map in the database holds at most \(PostgresMap.maxEntries)\n".utf8))
            throw ExitCode(65)
        }
        var file = config
        if file == nil, FileManager.default.isReadableFile(atPath: "/etc/mailstack/mailstack.yaml") { file = "/etc/mailstack/mailstack.yaml" }
        var settings: DatabaseSettings
        do {
            settings = try DatabaseSettings(try ConfigLoader.load(file: file, overrides: overrides), environment: ProcessInfo.processInfo.environment)
        } catch {
            FileHandle.standardError.write(Data("makemap: \(error)\n".utf8))
            throw ExitCode(78)
        }
        settings.timeout = Self.loadTimeout
        settings.maxConnections = 1
        var logger = Logger(label: "mailstack.makemap")
        logger.logLevel = .error
        let database = SharedDatabase(settings: settings, logger: logger)
        do {
            return try await withThrowingTaskGroup(of: Int64?.self) { group in
                group.addTask { await database.client.run(); return nil }
                defer { group.cancelAll() }
                return try await PostgresMapLoader.load(entries, map: map, database: database)
            }
        } catch {
            FileHandle.standardError.write(Data("makemap: \(map): \(error)\n".utf8))
            throw ExitCode(75) // EX_TEMPFAIL: nothing was changed
        }
    }
}
