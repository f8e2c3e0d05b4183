#!/usr/bin/env python3
"""Writes the seed corpora Fuzz/corpus/<target>/ from the tests' fixtures and the seed's files
(/work/shared/seeds is copied into Tests/*/Fixtures; those copies are read here). Run again after
adding a target; existing files are rewritten with the same content. Seeds are small on purpose:
libFuzzer grows its own corpus from them (scripts/fuzz.sh keeps it outside the repository)."""
import hashlib, os, struct, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FF = b"\xff"

def fixture(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return f.read()

def seed(target, data, name=None):
    d = os.path.join(ROOT, "Fuzz", "corpus", target)
    os.makedirs(d, exist_ok=True)
    name = name or hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])

def field(number, payload):  # length-delimited
    return varint(number << 3 | 2) + varint(len(payload)) + payload

def vfield(number, value):
    return varint(number << 3) + varint(value)

def frame(payload):
    return struct.pack(">I", len(payload)) + payload

# SMTP command lines (from the SMTP tests' conversations).
for line in [b"EHLO client.test", b"HELO a", b"MAIL FROM:<x@y> SIZE=100 BODY=8BITMIME",
             b"MAIL FROM:<> RET=HDRS ENVID=E+201", b"RCPT TO:<you@domain1.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;you@domain1.com",
             b"RCPT TO:<@a,@b:user@c>", b'RCPT TO:<"quoted >"@x.test>', b"rcpt to: you@domain1.com", b"DATA", b"data ",
             b"STARTTLS", b"AUTH PLAIN AHlvdQBzZWNyZXQx", b"MAIL FROM:<a%b@c>", b"QUIT"]:
    seed("smtp-command", line)
for text in [b"rfc822;you+2Bme@domain1.com", b"E+201", b"+", b"+4", b"a=b", "r\u00e9sum\u00e9".encode()]:
    seed("smtp-xtext", text)
for msg in [b"Received: from a\r\nreceived: by b\r\nVia: c\r\nMail-From: d\r\n\r\nReceived: body\r\n",
            b"Subject: x\r\n Received: folded\r\nX-Received: no\r\n\r\n"]:
    seed("smtp-hop-counter", b"\x03\x01" + FF + msg)
    seed("smtp-hop-counter", FF + msg)
conversation = (b"EHLO a\r\nMAIL FROM:<x@y>\r\nRCPT TO:<z@w>\r\nDATA\r\nSubject: s\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n")
seed("smtp-input", b"\x00" + b"\x01" + FF + b"\x00" + FF + conversation)
seed("smtp-input", b"\x00" + b"\x07\x03" + FF + b"\x01\x00" + FF + conversation + b"DATA\r\nx\r\n.\r\n")
for smuggle in [b"\n.\r\n", b"\r.\r\n", b"\r\n.\n", b"\n.\n"]:
    seed("smtp-input", b"\x00" + b"\x05" + FF + FF + b"EHLO a\r\nDATA\r\nx" + smuggle + b"MAIL FROM:<evil@x>\r\n")
seed("smtp-input", b"\x00" + FF + FF + b"EHLO a\r\nSTARTTLS\r\nMAIL FROM:<injected@x>\r\n")
seed("smtp-input", b"\xc0" + b"\x02" + FF + FF + b"EHLO " + b"a" * 60 + b"\r\nDATA\r\n" + b"b" * 50 + b"\r\n.\r\n")
for replies in [b"220 mx.test ESMTP\r\n", b"250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 2.0.0 OK\r\n",
                b"550 5.1.1 <nobody@x>... User unknown\r\n", b"451-4.3.0 try\r\n451 4.3.0 later\r\n", b"354 go ahead\n"]:
    seed("smtp-reply", b"\x02" + FF + replies)
# DKIM: tag-lists (signature fields, key records), then a message (dkimpy-signed fixtures).
for fixture_name in ["dkimpy-rsa.eml", "dkimpy-ed.eml", "message.eml"]:
    msg = fixture("Tests/DKIMTests/Fixtures/" + fixture_name)
    sig = msg.split(b"\r\n\r\n")[0].split(b"DKIM-Signature:")[-1].split(b"\nReceived")[0] if b"DKIM-Signature" in msg else b"v=DKIM1; k=rsa; t=y:s; p=AQID"
    seed("dkim-signature", sig + FF + msg)
seed("dkim-signature", b"a=1; a=2;" + FF + b"DKIM-Signature: v=1; a=rsa-sha1; d=x..y; s=\x01; b=; bh=;\r\nFrom: a@b\r\n\r\n")
seed("dkim-signature", b" v=1;\r\n\th=from : to ;bh=ab\r\n cd=;" + FF + b"From: a@domain1.com\nSubject: lf\n\nbody\n")

# Alias program lines (local-delivery's command-line grammar).
for line in [b"/usr/bin/mlmmj-receive -L /var/spool/mlmmj/info", b"prog 'two words' \"and \\\"more\\\"\" a\\ b ''",
             b"prog; rm -rf /", b"prog `id` $(id) > x", b"prog 'open", b"prog\tx\ny", b"  ", "prog r\u00e9sum\u00e9".encode()]:
    seed("program-command", line)
for response in [b"AHlvdQBzZWNyZXQx", b"eW91AHlvdQBzZWNyZXQx", b"AAA=", b"=", b"dXNlcg=="]:
    seed("sasl", response + FF + b"you" + FF + b"secret" + FF + b"\x01")
session = b"CAPA\r\nUSER you\r\nPASS secret with spaces\r\nSTAT\r\nLIST\r\nUIDL 1\r\nTOP 1 10\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n"
seed("pop3-line", b"\x01" + b"\x03" + FF + session)
seed("pop3-line", b"\x00\x10" + b"\x01" + FF + b"USER " + b"x" * 40 + b"\r\n" + session)
seed("pop3-line", b"\x01" + b"\x05" + FF + b"CAPA\r\nSTLS\r\nUSER injected\r\nPASS x\r\n")
for line in [b"USER you", b"PASS secret with spaces", b"APOP you c4c9334bac560ecc979e58001b3e22fb", b"AUTH PLAIN AHlvdQBzZWNyZXQx",
             b"AUTH PLAIN", b"CAPA", b"STLS", b"STAT", b"LIST", b"LIST 1", b"UIDL 2", b"RETR 1", b"DELE 3", b"TOP 1 0", b"NOOP",
             b"RSET", b"QUIT", b"stls ", b"RETR 999999999"]:
    seed("pop3-command", line)

# IPC: envelopes as the services send them.
hello = vfield(1, 1) + field(10, vfield(1, 1) + field(2, b"queue") + vfield(3, 1 << 20))
ping = vfield(1, 7) + field(13, field(1, b"hi"))
drac = vfield(1, 3) + field(20, field(1, b"127.0.0.2"))
rcpt = vfield(1, 9) + field(42, field(1, b"you@domain1.com"))
chunk = vfield(1, 5) + field(12, field(1, b"Subject: x\r\n\r\nbody\r\n") + vfield(2, 1))
unknown = vfield(1, 3) + field(99, b"")
for payload in [hello, ping, drac, rcpt, chunk, unknown]:
    seed("ipc-codec", payload)
seed("ipc-frame", b"\x01" + b"\x05" + FF + frame(hello) + frame(ping) + frame(chunk))
seed("ipc-frame", b"\x00\x10" + b"\x01" + FF + frame(ping) + struct.pack(">I", 1025) + b"x")
seed("ipc-frame", b"\x01" + FF + frame(drac) + b"\x00\x00")

# Queue: spool envelopes, spool files, headers, DSNs.
def spool_seed(rcpts, body, error):
    return (b"0ABCDEFGHIJKLM" + b"\x00\x10" + b"a b%@x.test" + FF + b"E 1" + FF + b"\x00\x02" + b"\x00\x01" + b"\x00"
            + b"127.0.0.2" + FF + b"client.test" + FF + b"client.test" + FF + b"\x00" + bytes([rcpts]) + b"\x00\x00"
            + b"\x06you@domain1.com" + FF + b"rfc822;you@domain1.com" + FF + b"\x00\x02" + b"\x00\x10" + b"\x01"
            + error + FF + b"\x00\x01\x00\x00\x01" + body)
seed("spool", spool_seed(0, b"Subject: x\r\n\r\nbody\r\n", b"451 4.3.0 try\nlater"))
seed("spool", spool_seed(2, b"", b""))
seed("dsn", spool_seed(1, b"Subject: hello\r\nFrom: s@x.test\r\n\r\nsecret body\r\n", b"") + FF + b"failed" + FF + b"5.1.1" + FF
     + b"550 5.1.1 <nobody@domain1.com>... User unknown" + FF + b"mx.test" + FF + b"s@x.test" + FF + b"Subject: hello\r\n\r\nbody\r\n")
seed("dsn", b"0ABCDEFGHIJKLM\x00\x10s@x.test" + FF + FF + b"\x00\x01\x00\x01\x00" + FF + FF + FF + b"\x00\x00\x00\x00\x04far@remote.test"
     + FF + FF + b"\x00\x01\x00\x3c\x00\x18" + b"\x00\x01" + FF + b"4.4.1" + FF + b"451 4.4.1 connection refused" + FF + FF + b"s@x.test" + FF)
def spool_file(body, rcpt=b"rcpt 6 you@domain1.com rfc822;you@domain1.com\n"):
    header = (b"mailstack-queue 1\nid 0ABCDEFGHIJKLM\narrival 1700000000\nsender a%20b%25@x.test\nenvid E%201\nret HDRS\n"
              b"body 8BITMIME\nsmtputf8 1\nclient 127.0.0.2 client.test\nhelo client.test\n" + rcpt + b"\n")
    return header + body + b"\nmailstack-end " + str(len(body)).zfill(16).encode() + b"\n"
def spool_file_sum(body):
    head = spool_file(body)[:-32]
    sealed = head + b"\nmailstack-sum " + str(len(body)).zfill(16).encode() + b" "
    return sealed + hashlib.sha256(head).hexdigest().upper().encode() + b"\n"
state = b"attempts 2\nnext 1700000900\nwarned 1\nerror 451%204.3.0%20try%0Alater\ndelivered 0\nfailed 1\n"
seed("spool-file", state + FF + spool_file(b"Subject: x\r\n\r\nbody\r\n"))
seed("spool-file", FF + spool_file(b"", b"rcpt 0 a@b \nrcpt 2 c@d rfc822;c@d\n"))
seed("spool-file", FF + b"mailstack-queue 1\nid TORN\n\nbody without end")
seed("spool-file", FF + spool_file_sum(b"Subject: x\r\n\r\nbody\r\n"))
headers = [b"From: Admin <admin@Host.Domain.com>\r\nSender: root@host\r\nTo: you@host.domain.com\r\nReply-To: x@host.domain.community\r\nDate: Sun, 1 Nov 2026 00:00:00 +0000\r\nMessage-ID: <a@b>\r\n\r\nbody\r\n",
           b"Subject: hi\r\n\r\n", b"Subject: no body\r\n", b"Message-ID:\r\n <folded@x>\r\nFrom: a@localhost (A)\r\n\r\n", b""]
for h in headers:
    seed("header-rewriter", b"\x01" + b"root@host" + FF + h)
    seed("header-rewriter", b"\x00" + FF + h)

# relay-policy maps: the seed's access, virtusertable and mailertable values.
for value in [b"RELAY", b"REJECT", b"OK", b"DISCARD", b"SKIP", b'ERROR:5.7.1:"550 go away"', b"ERROR:450 later", b"553 no", b"junk"]:
    seed("access", value + FF + b"client.test" + FF + b"4.29.156.10" + FF + b"\x00\x03")
    seed("access", value + FF + FF + b"2001:db8::1" + FF + b"\x00\x01")
for line in fixture("Tests/RelayPolicyTests/Fixtures/virtusertable.txt").splitlines():
    if line and not line.startswith(b"#"):
        key, _, value = line.partition(b"\t") if b"\t" in line else line.partition(b" ")
        user, _, domain = key.partition(b"@")
        seed("virtusertable", user + FF + domain + FF + value.strip() + FF + b"\x00\x00")
seed("virtusertable", b"user+detail" + FF + b"domain1.com." + FF + b"%1%3@other.test" + FF + b"\x00\x02")
seed("virtusertable", b"x" + FF + b"domain1.com" + FF + b"error:nouser No such user" + FF + b"\x00\x01")
for line in fixture("Tests/RelayPolicyTests/Fixtures/mailertable.txt").splitlines():
    if line and not line.startswith(b"#"):
        key, _, value = line.replace(b"\t", b" ").partition(b" ")
        seed("mailertable", key.lstrip(b".") + FF + value.strip() + FF + b"\x00\x00")
for value in [b"smtp:[127.0.0.1]:2526", b"esmtp:mx.test", b"local:user", b"error:5.1.2:550 no route", b"smtp:[::1]"]:
    seed("mailertable", b"a.b.example" + FF + value + FF + b"\x00\x01")

# passwd-file, makemap, configuration, import-mc.
seed("passwd-file", b"# users\nyou:{SHA512-CRYPT}$6$salt$hash:1000:1000::/home/you::\nuser2:{PLAIN}secret2\n\ninfo:{CRYPT}$y$j9T$x$y\nbad line\nuser2:{PLAIN}again\nz:{MD4}x\n")
seed("passwd-file", b"you:{PLAIN}a\r\nuser2:{CLEARTEXT}b\r\n")
for name in ["access.txt", "virtusertable.txt", "mailertable.txt", "virtuser-domains"]:
    text = fixture("Tests/MapsTests/Fixtures/" + name)
    seed("makemap", b"\x00" + text[:2000], name)
seed("makemap", b"\x1e\x01" + b"Key|value one\nother|\n#c\n|empty key\n")
# class-file: the seed's virtuser-domains, and comments, tabs, CRLF and repeats.
seed("class-file", open(os.path.join(ROOT, "etc", "mail", "virtuser-domains"), "rb").read(), "seed-virtuser-domains")
seed("class-file", b"# ours\r\nDomain1.COM\tdomain2.tv # two\r\n\n  domain1.com#x\n\xc3\x84.example\n", "comments-tabs-crlf")
seed("makemap", b"\x0d" + b"A b\na c\nB  d\t e\r\n")
seed("config", fixture("etc/mailstack.yaml"), "etc-mailstack.yaml")
seed("config", b"smtp:\n  max_message_size: 10M\n  privacy: [goaway, restrictmailq]\nqueue:\n  warn_after: 1h30m\n")
seed("config", b"smtp:\n  max_message_size: 10Q\n")
seed("config", b"host: {name: x}\nnope:\n  a: 1\n")
seed("import-mc", fixture("Tests/ConfigTests/Fixtures/sendmail.mc"), "sendmail.mc")
seed("import-mc", b"define(`confMAX_MESSAGE_SIZE', `10M')dnl\nDwmail\r\nFEATURE(`access_db', `hash -T<TMPF> /etc/mail/access')\nSLocal_check_relay\nR$* $: x\nMsmtpf, P=/usr/lib/smtpfeed, M=5000000, L=990\n")

# aliases: the file (and the same octets as target lists, :include: contents, and expansions).
seed("aliases", fixture("Tests/AliasesTests/Fixtures/aliases"), "aliases-fixture")
seed("aliases", fixture("etc/mail/aliases"), "etc-mail-aliases")
seed("aliases", b"# staff\nyou\nuser2, \"|/usr/bin/archive staff\"\n:include:/lists/more\n/var/log/staff\n")
seed("aliases", b"a: b\nb: a, \\a\nlist: a, b, :include:/x/missing, :include:/x/y\nowner-list: a\n"
     b"x: \"error:5.1.1:gone, sorry\", error:nouser, error:450 later\nlist-request: owner-list\n")
seed("aliases", b"nocolon\n  cont\nUPPER: Lower, <a@b> (c), \"q r\"@d, Name <e@f>\r\nbad name: x\nj: a, \\\nb\n \n")

# sendmail-recipients: messages for sendmail -t (To/Cc/Bcc, groups, comments, quotes, routes,
# literals, Resent-*, folding, CRLF, no header at all).
seed("sendmail-recipients", b"To: you@domain1.com\nCc: User Two <user2@domain1.com>\nBcc: secret@domain1.com\nSubject: t\n\nbody\n")
seed("sendmail-recipients", b"To: \"Doe, John\" <john@a.test>, (comment) jane@b.test (Jane)\r\nBcc: a@c.test,\r\n  b@c.test\r\nSubject: x\r\n\r\n.\r\n")
seed("sendmail-recipients", b"To: undisclosed-recipients:;\nCc: Team: a@x.test, <@r1,@r2:b@x.test>;, c@[IPv6:::1]\nbcc:\n\n")
seed("sendmail-recipients", b"To: old@x.test\nResent-To: new@x.test\nResent-Bcc: hidden@x.test\nFrom: me\n\nresent\n")
seed("sendmail-recipients", b"body only, no header\nTo: not@header.test\n")
seed("sendmail-recipients", b"To: \"quoted \\\"local\\\"\"@x.test, <a@b> trailing, <<nested>>, @bare\nSubject :spaced\n cont\n\n")

# local-message: a chunk-size field (0xFF ends it), then a local submission as typed: LF, CRLF and
# bare CR line ends, headers or none, continuation lines, a From: or none.
seed("local-message", b"\x03\x07\xffSubject: hi\nTo: you\n\nbody\nlast line without LF")
seed("local-message", b"\x01\xffbody only\r\n.\r\nmore\r")
seed("local-message", b"\x05\xffFrom: Me <me@x.test>\r\nX-A: 1\r\n folded\r\n\r\n\r\n")
seed("local-message", b"\xff\n")
seed("local-message", b"\x02\x09\xffSubject: a\rTo: b\n\rbody\r\r\n.\n")

# spf-record: records as published (includes, macros, cidr lengths) and refused ones.
for record in [b"v=spf1 -all", b"v=spf1 +a mx/24 ~ptr ?exists:%{i}.bl.example.com ip4:192.0.2.0/24 ip6:2001:db8::/32 include:_spf.example.net -all",
               b"v=spf1 a:mail.example.com/24//64 mx:example.org//48 redirect=_spf.example.com",
               b"v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} exp=explain._spf.%{d} -all", b"v=spf1 ip4:192.0.2.1/33",
               b"v=spf1 include:_spf.google.com include:mailgun.org ~all", b"v=spf1 redirect=x.example.com redirect=y.example.com"]:
    seed("spf-record", record)
# spf-macro: the first octet chooses exp= (odd) or domain-spec grammar; RFC 7208 7.4's examples.
for macro in [b"\x00%{ir}.%{v}._spf.%{d2}", b"\x00%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
              b"\x01%{c} is not one of %{d}'s designated mail servers; %{t} %{r} %_%%%-",
              b"\x00%{S}%{L}%{O}.%{d100r+-.,/_=}", b"\x00%{p}.example.com", b"\x00" + b"%{s}" * 60]:
    seed("spf-macro", macro)
# dmarc-record: DMARC records, From: values and header sections (the same octets go to all three).
for text in [b"v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=s; pct=25; rua=mailto:d@example.com",
             b"v = DMARC1 ;p = Quarantine ; pct=abc", b"\"Bank\" <alerts@bank.example>, a@x.example (comment)",
             b"Authentication-Results: mx.example.org; spf=pass\r\nFrom: a@b.example\r\n\tcontinued\r\nAuthentication-Results: (c) \"mx.example.org\"; dkim=pass\r\n\r\nbody\r\n",
             b"Group: a@x.example, b@x.example;", b"X-Mailstack-Quarantine: yes\r\n\r\n"]:
    seed("dmarc-record", text)
# maildir-name: the queue's names, another program's, and odd ones (pop3 lists cur/ with them)
for n, text in enumerate([b"1700000000.M99812P7Q1.host,S=120,W=124:2,", b"1700000000.M1P1.bench:2,S", b"123.foreign",
                          b"1,W=,W=4:2,", b"-5.M-3Q+4.x", b"9223372036854775808.M1.x", b"::"]):
    seed("maildir-name", text, f"name-{n}")
# pop3-message: stored messages as RETR (first octet even) and TOP n (odd, then n) send them,
# fed in pieces (sizes up to 0xFF): LF and CRLF endings, dots, a lone CR, no final newline.
for n, (mode, sizes, text) in enumerate([(b"\x00", b"", b"A: b\n\n.hidden\n..two\nend\n"),
                                          (b"\x01\x00", b"\x06", b"A: 1\n\r\r\nB: 2\n\nbody\n"),
                                          (b"\x01\x02", b"\x01\x03", b"A: 1\r\nB: 2\n\r\n.x\r\n\n..\nbare\rcr\nend"),
                                          (b"\x00", b"\x02", b"\r\r\n.\r\n\r"),
                                          (b"\x01\x05", b"", b"H: v\r\n\r\n" + b"line of the body\r\n" * 8)]):
    seed("pop3-message", mode + sizes + FF + text, f"message-{n}")

# mbox: spools as procmail (mboxo), mailutils (mboxrd) and Solaris (Content-Length) write them,
# with qpopper's X-UIDL and Status lines.
seed("mbox", b"From a@x  Wed Dec  2 05:53:22 1992\nX-UIDL: 0123456789abcdef\nSubject: a\nStatus: RO\n\n>From here\nbody\n\n"
     b"From b@x Wed Dec  2 05:53 PST 1992\nX-Status: AF\nReceived: x\n\n>>From there\n\n", "mboxo-qpopper")
seed("mbox", b"From c@x Wed Dec  2 05:53:22 1992 -0700\nContent-Length: 22\n\nline\n\nFrom inside body\n\n"
     b"From d@x Wed Dec  2 05:53:22 1992\n\nnext", "mboxcl2")
