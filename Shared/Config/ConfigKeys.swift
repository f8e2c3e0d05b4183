import Foundation

/// Every key of mailstack.yaml, once: its type, default, meaning and the sendmail.mc setting it
/// replaces. The loader validates against this table, `mailstack config-doc` renders it as
/// docs/configuration.md, and import-mc translates sendmail.mc into it.
///
/// Defaults reproduce the seed's sendmail.mc (see Tests/ConfigTests/Fixtures/sendmail.mc).
public struct ConfigKey: Sendable {
    public enum Kind: String, Sendable {
        case string, int, bool, size, duration, list, path
        /// One of `choices`.
        case choice
    }

    public let name: String
    public let kind: Kind
    public let defaultValue: ConfigValue
    public let summary: String
    public let sendmail: String
    /// The values a `.choice` key takes.
    public let choices: [String]

    init(_ name: String, _ kind: Kind, _ defaultValue: ConfigValue, _ summary: String, sendmail: String = "", choices: [String] = []) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.summary = summary
        self.sendmail = sendmail
        self.choices = choices
    }

    /// Environment variable that overrides this key for one run: `MAILSTACK_` and the name in
    /// upper case with `.` as `_` (`smtp.max_message_size` -> `MAILSTACK_SMTP_MAX_MESSAGE_SIZE`).
    public var environmentName: String {
        "MAILSTACK_" + name.uppercased().replacingOccurrences(of: ".", with: "_")
    }
}

extension ConfigKey {
    public static let all: [ConfigKey] = [
        // host: sendmail's $w, $m and $j.
        .init("host.name", .string, "host", "Short host name ($w).", sendmail: "Dw (Dwhost)"),
        .init("host.domain", .string, "domain.com", "Mail domain ($m).", sendmail: "Dm (Dmdomain.com)"),
        .init("host.fqdn", .string, "$w.$m", "Canonical host name ($j), used in the greeting, HELO and Received:. $w and $m are expanded.",
              sendmail: "define(`confDOMAIN_NAME', `$w.$m')"),
        .init("host.local_names", .list, [], "Further names this host receives mail for (its own names; $j is always one).",
              sendmail: "Cw / local-host-names"),

        // smtp: the inbound server (smtp-in).
        .init("smtp.listen", .list, ["0.0.0.0:25", "[::]:25"], "Addresses smtp-in binds when not socket-activated (host:port, [v6]:port).",
              sendmail: "DAEMON_OPTIONS (default: port 25, all addresses)"),
        .init("smtp.max_message_size", .size, "5242880", "Largest message accepted, in octets (SIZE in EHLO; 552 5.3.4 above it).",
              sendmail: "define(`confMAX_MESSAGE_SIZE', `5242880')"),
        .init("smtp.login_message", .string, "$j Domain YOU/Original; $b",
              "Greeting text after `220 `. $j, $w, $m are expanded at start, $b (RFC 5322 date) per connection. Never names the software.",
              sendmail: "define(`confSMTP_LOGIN_MSG', `$j Domain YOU/Original; $b')"),
        .init("smtp.privacy", .list, ["goaway", "restrictmailq", "restrictqrun"],
              "Privacy flags: goaway (refuse VRFY/EXPN, require HELO), restrictmailq, restrictqrun (mailq and flush for administrators only), and sendmail's other names.",
              sendmail: "define(`confPRIVACY_FLAGS', `goaway,restrictmailq,restrictqrun')"),
        .init("smtp.operators", .string, ".:@!^/[]+",
              "Address operators. The seed removes `%` so the %-hack is never an address operator; mailstack refuses %-hack, bang and source-routed relaying whatever this says.",
              sendmail: "define(`confOPERATORS', `.:@!^/[]+')"),
        .init("smtp.ident_timeout", .duration, "0s", "IDENT (RFC 1413) lookups: only 0s (never) is supported.",
              sendmail: "define(`confTO_IDENT', `0s')"),
        .init("smtp.canonify", .bool, "false", "Rewrite unqualified/short addresses through DNS. Off, as FEATURE(nocanonify); on is not supported.",
              sendmail: "FEATURE(`nocanonify')"),
        .init("smtp.max_recipients", .int, "100", "Recipients per message, 100 (RFC 5321's minimum) to 1000 (what the queue's spool header holds at the RFC's largest addresses and ORCPTs).",
              sendmail: "define(`confMAX_RCPTS_PER_MESSAGE')"),
        .init("smtp.max_bad_commands", .int, "25", "Bad commands before `421 4.7.0 ... Too many bad commands`.",
              sendmail: "MAXBADCOMMANDS (compiled in: 25)"),
        .init("smtp.max_hop_count", .int, "25", "Trace header fields (Received:) a message may carry; more is a mail loop: `554 5.4.6 Too many hops`.",
              sendmail: "define(`confMAX_HOP', `25')"),
        .init("smtp.command_timeout", .duration, "5m", "Time a client has to send one whole command line (RFC 5321 4.5.3.2.7); trickled octets do not extend it.",
              sendmail: "define(`confTO_COMMAND', `1h')"),
        .init("smtp.data_timeout", .duration, "10m", "Time for the whole message, from the 354 reply to the final dot.",
              sendmail: "define(`confTO_DATABLOCK', `1h')"),
        .init("smtp.max_connections", .int, "500", "SMTP connections at once; more get 421 4.3.2.",
              sendmail: "define(`confMAX_DAEMON_CHILDREN')"),
        .init("smtp.max_connections_per_client", .int, "20", "SMTP connections at once from one client address.",
              sendmail: "define(`confCONNECTION_RATE_THROTTLE') / ClientConn"),
        .init("smtp.tls_certificate", .path, "", "PEM certificate chain for STARTTLS; empty: no STARTTLS.",
              sendmail: "define(`confSERVER_CERT')"),
        .init("smtp.tls_key", .path, "", "PEM private key for STARTTLS.", sendmail: "define(`confSERVER_KEY')"),
        .init("smtp.submission", .bool, "false", "Run the submission listener (port 587, AUTH after STARTTLS). Off, as FEATURE(no_default_msa).",
              sendmail: "FEATURE(`no_default_msa')"),
        .init("smtp.submission_listen", .list, ["0.0.0.0:587", "[::]:587"], "Addresses of the submission listener when it runs.",
              sendmail: "DAEMON_OPTIONS(`Port=587, Name=MSA, M=E')"),

        // queue.
        .init("queue.directory", .path, "/var/spool/mailstack", "Spool directory of the queue service.",
              sendmail: "define(`QUEUE_DIR', `/var/spool/mqueue')"),
        .init("queue.min_age", .duration, "15m", "Minimum time between delivery attempts of a message.",
              sendmail: "define(`confMIN_QUEUE_AGE', `15m')"),
        .init("queue.warn_after", .duration, "1h", "Send a delay warning (DSN) when a message is undelivered this long.",
              sendmail: "define(`confTO_QUEUEWARN', `1h')"),
        .init("queue.return_after", .duration, "1d", "Return (bounce) a message undelivered this long.",
              sendmail: "define(`confTO_QUEUERETURN', `1d')"),
        .init("queue.maildir_root", .path, "/var/mail/mailstack", "Local mailboxes: <maildir_root>/<user>/ is a Maildir (tmp/, new/, cur/).",
              sendmail: "MAILER(`local') (mail.local into /var/mail)"),
        .init("queue.postmaster", .string, "postmaster", "Local mailbox that receives bounces nobody else can (returned mail to the null sender).",
              sendmail: "the postmaster alias"),
        .init("queue.delivery_mode", .string, "background",
              "background: deliver as soon as a message is accepted; queueonly: accept and keep it until the next queue run (queue.min_age later, or `mailstack flush`).",
              sendmail: "define(`confDELIVERY_MODE', `b')"),
        .init("queue.deliveries", .int, "32", "Delivery attempts (messages) in flight at once; remote ones are handed to smtpfeed-out together.",
              sendmail: "define(`confMAX_QUEUE_CHILDREN')"),
        .init("queue.min_free", .size, "100M",
              "Free space the spool's file system keeps: with less, new messages are refused with `452 4.3.1 Insufficient system storage` (as is one whose write fails with ENOSPC) until space returns; 0: only a full disk refuses.",
              sendmail: "define(`confMIN_FREE_BLOCKS', `100') (blocks there, octets here)"),

        // submit: local submission (the sendmail command, through the queue's submit.sock).
        .init("submit.trusted_users", .list, [],
              "Users (names or uids) who may set the envelope sender (sendmail -f/-r, MAIL FROM in -bs) without an `X-Authentication-Warning:` header, as sendmail's class t. Root and the queue's own user always may; users that do not exist are skipped.",
              sendmail: "define(`confTRUSTED_USERS') / Troot Tdaemon (class t)"),
        .init("submit.max_messages_per_minute", .int, "60",
              "Messages one local user (uid) may submit through the sendmail command in any 60 seconds; past it the command exits 75 (EX_TEMPFAIL) and may try again later. Root and the queue's own user are not limited; 0: no limit.",
              sendmail: "(none)"),

        // masquerade.
        .init("masquerade.as", .string, "$m", "Rewrite sender addresses of this host to this domain ($m expanded); empty: off.",
              sendmail: "MASQUERADE_AS(`$m')"),
        .init("masquerade.envelope", .bool, "true", "Masquerade the envelope sender too, not only headers.",
              sendmail: "FEATURE(`masquerade_envelope')"),

        // maps.
        .init("maps.access", .path, "/etc/mail/access.db", "access map (hash), built by `mailstack makemap hash /etc/mail/access`.",
              sendmail: "FEATURE(`access_db', `hash -o -T<TMPF> /etc/mail/access')"),
        .init("maps.virtusertable", .path, "/etc/mail/virtusertable.db", "virtusertable map (hash).",
              sendmail: "FEATURE(`virtusertable', `hash /etc/mail/virtusertable.db')"),
        .init("maps.mailertable", .path, "/etc/mail/mailertable.db", "mailertable map (hash).",
              sendmail: "FEATURE(`mailertable')"),
        .init("maps.aliases", .path, "/etc/mail/aliases",
              "sendmail's aliases file; relay-policy reads <file>.db (built by `mailstack newaliases`) and picks up a rebuilt one without a restart. No database: no aliases (postmaster is then the mailbox of that name).",
              sendmail: "define(`ALIAS_FILE', `/etc/mail/aliases')"),
        .init("maps.virtuser_domains", .path, "/etc/mail/virtuser-domains", "Text file of virtual domains, one a line (optional).",
              sendmail: "VIRTUSER_DOMAIN_FILE(`-o /etc/mail/virtuser-domains')"),
        .init("maps.backend", .string, "file",
              "Where relay-policy reads access, virtusertable, mailertable, virtuser-domains and the aliases: `file` (the Berkeley DB files of maps.* and the virtuser-domains text file) or `pgsql` (the tables map_generations and map_entries in the pgsql.* database, loaded with `mailstack makemap --pgsql` and `mailstack newaliases --pgsql`; each map's generation checked every maps.check_interval, a new one loaded whole).",
              sendmail: "Postfix: pgsql:/etc/postfix/pgsql-access.cf"),
        .init("maps.max_stale", .duration, "30s",
              "maps.backend pgsql: how long a map in memory may go unconfirmed (the database unreachable) before lookups fail, and every answer that needs the map is a 4xx.",
              sendmail: "(none)"),
        .init("maps.check_interval", .duration, "1s", "How often a map file is checked for replacement (new inode or mtime); also how long smtp-in may give relay-policy's verdict on an accepted client (no longer than its DNS answers' TTL), a sender or a recipient again without asking, so a changed map, alias or user applies within twice this (0s: every connection, MAIL and RCPT asked).",
              sendmail: "(sendmail reopens maps per queue run)"),

        // policy: relay-policy.
        .init("policy.ptr_check", .bool, "true",
              "Refuse clients whose PTR lookup fails (450 ... IP name lookup failed), is temporarily unavailable (450 ... Cannot resolve PTR record) or is forged.",
              sendmail: "LOCAL_RULESETS SLocal_check_relay ({client_resolve} TEMP/FAIL/FORGED)"),
        .init("policy.ptr_check_allow", .list, [], "Client addresses or networks (CIDR) exempt from the PTR check (access OK/RELAY entries are exempt too).",
              sendmail: "(none)"),
        .init("policy.drac", .bool, "true", "Allow relaying for clients present in drac-registry (POP-before-SMTP).",
              sendmail: "FEATURE(`drac')"),
        // policy: sender authentication (issue 21), relay-policy (SPF) and smtp-in (DMARC).
        .init("policy.spf", .choice, "off",
              "SPF (RFC 7208) of MAIL FROM (HELO for the null sender), evaluated by relay-policy at DATA and reported in Authentication-Results: (`check`), never a refusal by itself; `off` (the default, as sendmail without a milter): not evaluated.",
              sendmail: "(none; milter: spf-milter)", choices: ["off", "check"]),
        .init("policy.dmarc", .choice, "off",
              "DMARC (RFC 7489) of the From: domain: `report-only` writes the result in Authentication-Results:; `enforce` also refuses p=reject failures (550 5.7.1) and marks p=quarantine ones with X-Mailstack-Quarantine:, never for clients that may relay (loopback, access RELAY, AUTH, drac); `off` (the default): no DMARC.",
              sendmail: "(none; milter: opendmarc)", choices: ["off", "report-only", "enforce"]),
        .init("policy.authserv_id", .string, "",
              "The authserv-id of Authentication-Results: (RFC 8601); empty: host.fqdn, the name of Received:. Fields with this id arriving from outside are removed.",
              sendmail: "(none; opendmarc's AuthservID)"),
        .init("policy.public_suffix_list", .path, "/usr/share/publicsuffix/public_suffix_list.dat",
              "The Public Suffix List for DMARC's organizational domains (Debian's publicsuffix package).",
              sendmail: "(none; opendmarc's PublicSuffixList)"),

        // outbound: smtpfeed-out.
        .init("outbound.smart_host", .string, "", "Send all remote mail to this host ([host] or [host]:port: no MX lookup); empty: MX routing by smtpfeed-out.",
              sendmail: "define(`SMART_HOST', `smtpf:LMTP') (smtpfeed resolved MX itself)"),
        .init("outbound.max_message_size", .size, "5000000", "Largest message smtpfeed-out sends (the smtpf mailer's M=).",
              sendmail: "Msmtpf, ... M=5000000"),
        .init("outbound.max_line", .int, "990", "Longest line sent (the smtpf mailer's L=); longer lines are wrapped.",
              sendmail: "Msmtpf, ... L=990"),
        .init("outbound.port", .int, "25", "Port of the mail exchangers smtpfeed-out connects to (a mailertable or smart host :port wins).",
              sendmail: "the esmtp mailer's port (25)"),
        .init("outbound.max_connections", .int, "100", "Outbound connections at once, in total.",
              sendmail: "smtpfeed's -c"),
        .init("outbound.max_connections_per_host", .int, "20", "Outbound connections at once to one mail exchanger address (Postfix's default_destination_concurrency_limit).",
              sendmail: "smtpfeed's per-host limit"),
        .init("outbound.max_recipients", .int, "100", "Recipients per transaction; more go in further transactions.",
              sendmail: "the smtpf mailer's r= / smtpfeed's -r"),
        .init("outbound.connect_timeout", .duration, "30s", "Time to connect to a mail exchanger.",
              sendmail: "define(`confTO_CONNECT')"),
        .init("outbound.command_timeout", .duration, "5m", "Time for the greeting and each reply to EHLO, MAIL, RCPT, DATA (RFC 5321 4.5.3.2).",
              sendmail: "define(`confTO_MAIL') and the like"),
        .init("outbound.data_timeout", .duration, "10m", "Time for the reply to the final dot (RFC 5321 4.5.3.2.6).",
              sendmail: "define(`confTO_DATAFINAL')"),
        .init("outbound.host_backoff", .duration, "5m", "A mail exchanger that could not be reached is skipped this long (smtpfeed's failure cache).",
              sendmail: "define(`confTO_HOSTSTATUS')"),
        .init("outbound.require_tls", .list, [],
              "Domains whose mail is sent only over STARTTLS with a certificate that chains to the system trust store (/etc/ssl/certs) and names the MX host; else deferred with 4.7.5. Other domains get opportunistic TLS, unverified.",
              sendmail: "TLS_Rcpt: entries in access (VERIFY, plus {cn_subject} checks)"),
        .init("outbound.tls_fingerprints", .list, [],
              "Pinned server certificates, `domain=sha256:HEX` (SHA-256 of the DER leaf certificate, as `openssl x509 -noout -fingerprint -sha256`; colons allowed), several per domain allowed: that domain's mail goes only over STARTTLS to a server presenting one of them (chain and name not checked); else deferred with 4.7.5.",
              sendmail: "(none in sendmail 8.13; TLS_Rcpt: with {cert_md5} comes closest; Postfix: smtp_tls_policy_maps fingerprint)"),

        // dkim: signing of outbound mail (smtpfeed-out).
        .init("dkim.keys", .list, [],
              "DKIM signing keys, `domain=selector:/path/to/key` (PEM, PKCS#8 or PKCS#1 RSA of 2048 bits or more, or Ed25519; `mailstack dkim keygen` writes one): mail leaving for remote recipients whose From: is that domain (or a subdomain of it) is signed by smtpfeed-out with it (rsa-sha256 or ed25519-sha256, relaxed/relaxed, no l=); a domain with an RSA and an Ed25519 key signs twice. The file must be readable by smtpfeed-out's user only (mode 0600 or 0400): a key others may read, or one that does not load, stops smtpfeed-out at start with the file and the reason.",
              sendmail: "(none: sendmail signed through a milter, OpenDKIM's KeyTable + SigningTable)"),
        .init("dkim.headers", .list, [],
              "Header fields to sign, by name; empty: RFC 6376 5.4.1's list (From, Sender, Reply-To, Subject, Date, Message-ID, To, Cc, MIME and Resent-/List- fields). Each is signed as often as present; From always, once more than present (a From: added later breaks the signature).",
              sendmail: "(none: OpenDKIM's SignHeaders / OversignHeaders)"),

        // local: local-delivery, sendmail's prog mailer behind smrsh and its file mailer.
        .init("local.smrsh_directory", .path, "/etc/mailstack/smrsh",
              "The programs an alias may run (`\"|command args\"`): the command's first word's basename must be an entry here (a symbolic link or a file an administrator put there), and that entry runs, never the path the alias wrote; no shell, so `` ; & | < > ` $ ( ) `` and control characters are refused. Missing directory: no program runs.",
              sendmail: "FEATURE(`smrsh') (its directory /etc/smrsh)"),
        .init("local.program_timeout", .duration, "10m",
              "Time a program may run; then its process group gets SIGTERM (SIGKILL 5 s later) and the delivery is retried later (451 4.4.7).",
              sendmail: "(none: sendmail waited for a prog mailer as long as it ran)"),
        .init("local.program_from_line", .bool, "false",
              "Put a `From sender date` line before the message on a program's stdin (the message itself always comes with LF line ends).",
              sendmail: "the U flag, which sendmail's prog mailer does not have (F=lsDFMoqeu9)"),
        .init("local.run_as", .string, "nobody",
              "User (name or uid) programs and file deliveries run as when local-delivery itself runs as root (the local run without systemd; under systemd it runs as mailstack-local, and so do they). Root is refused; a user that cannot be used makes every delivery temporary (4xx).",
              sendmail: "define(`confDEF_USER_ID', `nobody')"),
        .init("local.file_directories", .list, [],
              "Directories (absolute) an alias may name files in (`/var/log/archive/mbox`): the file's real parent directory must be one of them or inside one, the file a regular one or new, never a symbolic link. Empty: every file delivery is refused (550 5.7.1).",
              sendmail: "define(`confSAFE_FILE_ENV') (SafeFileEnvironment)"),
        .init("local.file_lock_timeout", .duration, "1m",
              "Longest wait for a mailbox file's lock (fcntl, as mail readers take it); then the delivery is retried later (450 4.2.0).",
              sendmail: "(none: sendmail waited for the lock)"),

        // drac: drac-registry.
        .init("drac.window", .duration, "30m", "How long a POP3 login authorizes relaying from the client's address.",
              sendmail: "dracd -e 30 (drac's default expiry)"),
        .init("drac.database", .path, "/var/lib/mailstack/drac.db", "drac's Berkeley DB (btree): key the address, value the expiry in epoch seconds.",
              sendmail: "Kdrac btree -o /etc/mail/dracd"),
        .init("drac.sweep_interval", .duration, "", "How often expired entries are deleted (lookups check expiry exactly anyway); empty: window/10.",
              sendmail: "(dracd sweeps on each update)"),
        .init("drac.writer_users", .list, ["mailstack-pop3"], "Users (names or uids) that may add and delete entries: pop3's user. Root, the registry's own user and ipc.admin_group always may.",
              sendmail: "dracd's allow list (dracd.allow)"),
        .init("drac.writer_groups", .list, [], "Groups (names or gids) whose members may add and delete entries.",
              sendmail: "dracd's allow list (dracd.allow)"),
        .init("drac.backend", .string, "file",
              "Where entries live: `file` (drac.database, this host only) or `pgsql` (the table `drac` in the pgsql.* database, shared by every host's drac-registry; expiry against the database's clock).",
              sendmail: "(dracd on one host, told by every POP server over RPC)"),
        .init("drac.cache_ttl", .duration, "5s",
              "pgsql backend: how long a lookup's answer is kept in this host's memory (a positive one never past the entry's expiry). Every host's adds, deletes and flushes drop the answers they change at once while drac-registry hears them (LISTEN/NOTIFY); negative answers are kept only then. Without that feed a delete or flush made on another host may be seen this much later. 0s: no cache.",
              sendmail: "(none)"),

        // pgsql: the PostgreSQL database several hosts share (drac.backend: pgsql).
        .init("pgsql.host", .string, "127.0.0.1", "PostgreSQL server: a host name or address (TCP), or an absolute directory of its Unix socket.",
              sendmail: "Postfix pgsql_table(5): hosts"),
        .init("pgsql.port", .int, "5432", "PostgreSQL server's TCP port (also the number in the Unix socket's name).", sendmail: "Postfix pgsql_table(5): hosts = host:port"),
        .init("pgsql.database", .string, "mailstack", "Database name.", sendmail: "Postfix pgsql_table(5): dbname"),
        .init("pgsql.user", .string, "mailstack", "Database user.", sendmail: "Postfix pgsql_table(5): user"),
        .init("pgsql.password_file", .path, "",
              "File holding the database password (first line), readable by the service only: refused when its mode gives anything to others. Empty: $CREDENTIALS_DIRECTORY/pgsql-password when systemd passes credentials (LoadCredential=), else no password. Never on the command line.",
              sendmail: "Postfix pgsql_table(5): password (in the table file)"),
        .init("pgsql.tls", .string, "disable", "TLS to the database: `disable` or `require` (the server's certificate checked against the system trust store).",
              sendmail: "Postfix pgsql_table(5): tls_* (none in 3.7)"),
        .init("pgsql.timeout", .duration, "2s",
              "Deadline of one database call (connection wait included): past it the answer is temporary (4xx, -ERR [SYS/TEMP]).",
              sendmail: "Postfix pgsql_table(5): (connect timeout)"),
        .init("pgsql.max_connections", .int, "4", "Connections one service keeps to the database at most.", sendmail: "(none)"),

        // pop3.
        .init("pop3.listen", .list, ["0.0.0.0:110", "[::]:110"], "Addresses pop3 binds when not socket-activated.",
              sendmail: "qpopper's inetd entry (port 110)"),
        .init("pop3.passwd_file", .path, "/etc/mailstack/passwd",
              "Users and password hashes, user:{SCHEME}hash[:...] as Dovecot's passwd-file (SHA512-CRYPT, BLF-CRYPT, CRYPT incl. yescrypt; PLAIN for APOP users).",
              sendmail: "qpopper: /etc/passwd + /etc/pop.auth (APOP)"),
        .init("pop3.tls_certificate", .path, "", "PEM certificate chain for STLS (RFC 2595); empty: no STLS.",
              sendmail: "qpopper -f config: set tls-server-cert-file"),
        .init("pop3.tls_key", .path, "", "PEM private key for STLS.", sendmail: "qpopper: set tls-private-key-file"),
        .init("pop3.idle_timeout", .duration, "10m", "Close a session idle this long (RFC 1939: at least 10 minutes).",
              sendmail: "qpopper -T 600"),
        .init("pop3.login_timeout", .duration, "1m", "Time from connect to a successful login; an unauthenticated session is closed after it.",
              sendmail: "(none)"),
        .init("pop3.failure_delay", .duration, "2s", "Wait before answering every failed login (POP3 and submission AUTH).",
              sendmail: "qpopper's failed-login sleep"),
        .init("pop3.max_failures", .int, "5",
              "Failed logins (POP3 and submission AUTH) from one client (an IPv6 /64 is one) within pop3.failure_window before it is refused. A success does not reset it.",
              sendmail: "(none)"),
        .init("pop3.max_user_failures", .int, "20",
              "Failed logins for one user name, from any client, within pop3.failure_window before that name is refused (guesses spread over many addresses).",
              sendmail: "(none)"),
        .init("pop3.failure_window", .duration, "15m", "Window over which failed logins are counted.", sendmail: "(none)"),
        .init("pop3.auth_cache_ttl", .duration, "1h",
              "A password verified for a user (POP3 and submission AUTH) passes without crypt(3) for this long, while the user's stored hash is unchanged: a keyed HMAC of it is kept in the process's memory, never the password; failures are never kept. 0s: every login pays the hash.",
              sendmail: "Dovecot: auth_cache_size, auth_cache_ttl"),
        .init("pop3.users", .string, "file",
              "Where pop3 and submission AUTH find users, and relay-policy which mailboxes exist: `file` (pop3.passwd_file) or `pgsql` (the table `mail_users (name, password)` in the pgsql.* database, the password in the passwd-file's {SCHEME}hash form, as Dovecot's SQL passdb; relay-policy keeps the names in memory, checked for changes every maps.check_interval). Database unreachable: -ERR [SYS/TEMP] and 454 4.7.0; recipients that need the names 4xx once they are unconfirmed past maps.max_stale.",
              sendmail: "Dovecot: passdb { driver = sql }"),
        .init("pop3.mailbox_lock", .string, "local",
              "Who may hold a mailbox while a session is open: `local` (this host's sessions) or `pgsql` (every host's: a PostgreSQL advisory lock held on a connection of the session's own, in the pgsql.* database; a host that dies frees it when the database sees the connection gone, about 60 s). Database unreachable: -ERR [SYS/TEMP].",
              sendmail: "qpopper's .user.pop lock file in the shared spool directory"),
        .init("pop3.max_sessions", .int, "200", "Concurrent POP3 sessions in total.", sendmail: "inetd's max instances"),
        .init("pop3.max_sessions_per_address", .int, "10", "Concurrent POP3 sessions from one client address.",
              sendmail: "(none)"),

        // ipc: the Unix sockets between services.
        .init("ipc.directory", .path, "/run/mailstack", "Directory of the services' Unix sockets (<service>.sock).",
              sendmail: "(none: sendmail was one process)"),
        .init("ipc.max_frame", .size, "1048576", "Largest IPC frame accepted, in octets; larger frames close the connection.",
              sendmail: "(none)"),
        .init("ipc.socket_mode", .string, "0660", "Mode (octal) of the Unix sockets a service creates itself (systemd's .socket units set their own).",
              sendmail: "(none)"),
        .init("ipc.socket_group", .string, "", "Group (name or gid) given to the Unix sockets a service creates itself; empty: the service's own group.",
              sendmail: "(none)"),
        .init("ipc.request_timeout", .duration, "30s", "Deadline of one IPC request between services.", sendmail: "(none)"),
        .init("ipc.max_idle", .duration, "100s",
              "A service started by its systemd socket (every one but the queue) stops after this long without a connection open; systemd keeps its sockets and starts it again at the next connection, as Postfix's master does with max_idle. A service that bound its own sockets (scripts/start.sh) never stops by itself. 0s: runs until stopped.",
              sendmail: "(none: the daemon ran always)"),
        .init("ipc.idle_close", .duration, "60s",
              "A service closes an IPC connection it made when no request has used it this long, and makes it again at the next request, so the service at the other end can stop (ipc.max_idle). 0s: kept open.",
              sendmail: "(none)"),
        .init("ipc.service_users", .list,
              ["smtp-in=mailstack-smtp", "pop3=mailstack-pop3", "queue=mailstack-queue", "relay-policy=mailstack-policy",
               "smtpfeed-out=mailstack-feed", "drac-registry=mailstack-drac", "local-delivery=mailstack-local"],
              "The user (name or uid) each service runs as, `service=user`: a service answers a request only from the peers that send it (queue.submit from smtp-in, feed.deliver and local.deliver from the queue, ...), checked by SO_PEERCRED. Root and the service's own user always may; users that do not exist are skipped.",
              sendmail: "(none)"),
        .init("ipc.admin_group", .string, "", "Group whose members may use privileged requests (mailq, flush, drac edits) besides root.",
              sendmail: "restrictmailq/restrictqrun: the queue directory's group"),

        // dns.
        .init("dns.servers", .list, [], "DNS servers (host or host:port); empty: /etc/resolv.conf.", sendmail: "(resolver)"),
        .init("dns.timeout", .duration, "5s", "Deadline of one DNS query; a timeout is a temporary failure.", sendmail: "define(`confTO_RESOLVER_RETRANS')"),

        // log.
        .init("log.level", .string, "info", "Least severe level logged: trace, debug, info, notice, warning, error, critical.",
              sendmail: "define(`confLOG_LEVEL')"),
    ]

    static let byName: [String: ConfigKey] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    public static func named(_ name: String) -> ConfigKey? { byName[name] }
}
