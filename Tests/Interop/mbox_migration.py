#!/usr/bin/env python3
"""A seed host's mail spools, written by Debian's own tools, and a POP3 check after the move.

usage: mbox_migration.py make SPOOL EXPECTED.json
       mbox_migration.py check PORT USER PASSWORD EXPECTED.json

make: /SPOOL/you is written by procmail (mboxo, as sendmail's mail.local writes), then a qpopper
session is replayed on it as qpopper 4's pop_updt.c rewrites a spool (an X-UIDL: line after
each From line, Status: RO for retrieved messages, Status: U for the others), then more mail
arrives through procmail (no X-UIDL: those get qpopper's computed UIDL). /SPOOL/user2 is written
by GNU mailutils' movemail from a Maildir (mboxrd). EXPECTED.json holds, per user and in mbox
order, the UIDL a POP3 client saw from qpopper (None where it may be any unique one of ours) and
the message's bytes as Python's mailbox module splits the mbox, with the format's quoting undone.

check: logs in with poplib and compares UIDL and RETR with EXPECTED.json; prints what differs
and exits 1 if anything does.
"""
import hashlib
import json
import mailbox
import os
import poplib
import random
import re
import shutil
import subprocess
import sys
import tempfile

FROM_LINE = re.compile(rb"^From ")


def procmail(mbox, sender, message):
    """Delivers `message` into `mbox` with procmail, as a mail.local-style local delivery."""
    with tempfile.TemporaryDirectory() as work:
        rc = os.path.join(work, "rc")
        with open(rc, "w") as f:
            f.write(f"DEFAULT={mbox}\nLOCKFILE={mbox}.lock\n")
        subprocess.run(["procmail", "-m", "-f", sender, rc], input=message, check=True)


def base80(digest):
    out = []
    i = 0
    while i < 16:
        v = 0
        while True:
            v = (v << 4) + digest[i]
            i += 1
            if i % 4 == 0:
                break
        for _ in range(5):
            j = v % 80
            v = (v - j) // 80
            c = 0x21 + j
            out.append("~" if c == ord(".") else chr(c))
    return "".join(out)


def header_chunks(stored):
    """Header lines as qpopper's fgets(buf, 1024) reads them."""
    pos = 0
    while pos < len(stored):
        end = stored.find(b"\n", pos)
        end = len(stored) if end < 0 else end + 1
        end = min(end, pos + 1023)
        chunk = stored[pos:end]
        if chunk.startswith(b"\n"):
            return
        yield chunk
        pos = end


def qpopper_uidl(from_line, stored):
    """qpopper 4 (pop_dropcopy.c): the X-UIDL value, else MD5 over the From line, the
    Received/Date/Message-Id/Subject lines and the From line again, in base 80."""
    md5 = hashlib.md5(from_line + b"\n")
    for chunk in header_chunks(stored):
        low = chunk.lower()
        if low.startswith(b"x-uidl:"):
            value = chunk[7:].lstrip(b" \t").rstrip(b"\r\n")
            if 11 <= len(value) <= 32 and all(0x21 <= c <= 0x7E for c in value):
                return value.decode()
        elif low.startswith((b"received:", b"date:", b"message-id:", b"subject:")):
            md5.update(chunk)
    md5.update(from_line + b"\n")
    return base80(md5.digest())


def qpopper_session(mbox, retrieved):
    """Rewrites `mbox` as qpopper 4's pop_updt does at the end of a session that listed every
    message and retrieved the first `retrieved` ones (update-status-headers on, its default)."""
    data = open(mbox, "rb").read()
    box = mailbox.mbox(mbox)
    box._generate_toc()
    out = bytearray()
    rng = random.Random(7)
    for number, (start, stop) in enumerate(box._toc.values() if isinstance(box._toc, dict) else box._toc):
        raw = data[start:stop]
        from_line, _, rest = raw.partition(b"\n")
        # Session UIDs hash a per-session counter: not reproducible, so written into the spool.
        uidl = base80(hashlib.md5(from_line + rng.randbytes(8)).digest())
        header, sep, body = rest.partition(b"\n\n")
        lines = [l for l in header.split(b"\n") if not l.lower().startswith(b"x-uidl:")]
        status = b"Status: RO" if number < retrieved else b"Status: U"
        lines = [status if l.lower().startswith(b"status:") else l for l in lines]
        if status not in lines:
            lines.append(status)
        out += from_line + b"\nX-UIDL: " + uidl.encode() + b"\n" + b"\n".join(lines) + sep + body + b"\n"
    with open(mbox, "wb") as f:
        f.write(bytes(out))


def unquote(content, fmt):
    lines = content.split(b"\n")
    if fmt == "mboxrd":
        lines = [l[1:] if re.match(rb"^>+From ", l) else l for l in lines]
    else:
        lines = [l[1:] if l.startswith(b">From ") else l for l in lines]
    return b"\n".join(lines)


def expected(mbox, fmt, forged=()):
    """Per message: (uidl or None, unquoted bytes), split by Python's mailbox module."""
    data = open(mbox, "rb").read()
    box = mailbox.mbox(mbox)
    box._generate_toc()
    toc = box._toc.values() if isinstance(box._toc, dict) else box._toc
    result = []
    seen = set()
    for start, stop in sorted(toc):
        raw = data[start:stop]
        from_line, _, stored = raw.partition(b"\n")
        uidl = qpopper_uidl(from_line, stored)
        if uidl in seen:
            uidl = None  # a second message with the same X-UIDL: any new unique UIDL
        seen.add(uidl)
        result.append({"uidl": uidl, "content": unquote(stored, fmt).hex()})
    return result


def message(n, subject, body, extra=b""):
    return (b"Received: from client.example.net by mx.domain1.com; Wed, 2 Dec 2026 04:%02d:00 +0000\n" % n
            + b"Date: Wed, 2 Dec 2026 04:%02d:00 +0000\n" % n
            + b"Message-Id: <m%d@example.net>\nFrom: Sender <sender@example.net>\nTo: you@domain1.com\n" % n
            + b"Subject: " + subject + b"\n" + extra + b"\n" + body)


def make(spool, expected_path):
    os.makedirs(spool, exist_ok=True)
    you = os.path.join(spool, "you")
    bodies = [
        message(1, b"plain", b"hello\n"),
        message(2, b"From lines", b"From the start of a line\nnot From\n\nFrom after an empty line\n"),
        message(3, b"8bit", "\u00e9t\u00e9, \u65e5\u672c\u8a9e\n".encode()),
        message(4, b"long " + b"x" * 1100, b"a long Subject line (qpopper hashes its first 1023 octets)\n",
                b"X-Long: " + b"y" * 3000 + b"\n"),
    ]
    for n, body in enumerate(bodies):
        procmail(you, f"sender{n}@example.net", body)
    qpopper_session(you, retrieved=2)
    # Mail after the last session: no X-UIDL in the spool.
    procmail(you, "late@example.net", message(5, b"late", b"arrived after the last POP3 session\n"))
    procmail(you, "late@example.net", message(6, b"folded",
                                               b"body\n", b"X-Folded: a\n\tb\n"))
    # A sender that forges a qpopper UIDL of an earlier message: it must not hide that one.
    first_uidl = qpopper_uidl(*open(you, "rb").read().split(b"\n\n", 1)[0].partition(b"\n")[::2])
    procmail(you, "forger@example.net", message(7, b"forged", b"forged X-UIDL\n",
                                                 b"X-UIDL: " + first_uidl.encode() + b"\n"))

    # user2: a Maildir moved into an mbox by mailutils' movemail (mboxrd quoting).
    user2 = os.path.join(spool, "user2")
    with tempfile.TemporaryDirectory() as md:
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, sub))
        samples = [message(11, b"rd one", b">From quoted once\n>>From twice\nFrom plain\n"),
                   message(12, b"rd two", b"second\n")]
        for n, body in enumerate(samples):
            with open(os.path.join(md, "new", f"17000000{n}.M1P1.host"), "wb") as f:
                f.write(body)
        subprocess.run(["movemail.mailutils", "maildir://" + md, "mbox://" + user2], check=True)
    result = {"you": expected(you, "mboxo"), "user2": expected(user2, "mboxrd"),
              "you-original": [b.hex() for b in bodies]}
    with open(expected_path, "w") as f:
        json.dump(result, f)


def check(port, user, password, expected_path):
    want = json.load(open(expected_path))[user]
    poplib._MAXLINE = 1 << 20  # the 3000-octet header line
    client = poplib.POP3("127.0.0.1", port, timeout=10)
    client.user(user)
    client.pass_(password)
    listing = client.uidl()[1]
    uidls = [line.split(b" ", 1)[1].decode() for line in listing]
    problems = []
    if len(uidls) != len(want):
        problems.append(f"{len(uidls)} messages, expected {len(want)}")
    if len(set(uidls)) != len(uidls):
        problems.append(f"UIDLs are not unique: {uidls}")
    for number, (uidl, item) in enumerate(zip(uidls, want), start=1):
        if item["uidl"] is not None and uidl != item["uidl"]:
            problems.append(f"message {number}: UIDL {uidl!r}, qpopper's was {item['uidl']!r}")
        lines = client.retr(number)[1]
        got = b"\n".join(lines) + b"\n"
        content = bytes.fromhex(item["content"])
        if not content.endswith(b"\n"):
            content += b"\n"
        if got != content:
            problems.append(f"message {number}: {len(got)} octets differ from the mbox's {len(content)}")
    client.quit()
    print(json.dumps({"uidls": uidls, "problems": problems}))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "check":
        check(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
    else:
        sys.exit(__doc__)
