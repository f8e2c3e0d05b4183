#!/usr/bin/env python3
"""Mail traffic for the system test, with Python's smtplib and poplib. Prints JSON.

usage: mailflow.py MODE [args]
  send PORT FROM TO ID                 one message; prints the body sent and the reply
  fetch PORT USER PASSWORD             every message of the mailbox (RETR, then DELE)
  load PORT STOPFILE                   a new connection per message until STOPFILE exists;
                                       prints which sequence numbers got 250, how many
                                       connections were refused and the other failures
  connect PORT SOURCE                  a session from SOURCE (an address on lo): greeting,
                                       EHLO and MAIL FROM replies
  login PORT USER PASSWORD SOURCE      a POP3 login from SOURCE (POP-before-SMTP), then QUIT
  relay PORT SOURCE TO                 from SOURCE: MAIL, then RCPT TO (a remote address);
                                       the RCPT reply, no message sent
"""
import json
import os
import poplib
import smtplib
import socket
import sys
import time

mode = sys.argv[1]


def body(ident):
    lines = [f"line {n} of {ident}: " + "x" * 60 for n in range(40)]
    return "\r\n".join([".a line with a leading dot"] + lines) + "\r\n"


def message(sender, recipient, ident):
    return (f"From: <{sender}>\r\nTo: <{recipient}>\r\nSubject: system test {ident}\r\n"
            f"Message-ID: <{ident}@system.test>\r\nX-Seq: {ident}\r\n\r\n" + body(ident))


if mode == "send":
    port, sender, recipient, ident = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.system.test")
        refused = client.sendmail(sender, [recipient], message(sender, recipient, ident))
    print(json.dumps({"body": body(ident), "refused": {k: v[0] for k, v in refused.items()}}))

elif mode == "fetch":
    port, user, password = int(sys.argv[2]), sys.argv[3], sys.argv[4]
    client = poplib.POP3("127.0.0.1", port, timeout=30)
    client.user(user)
    client.pass_(password)
    messages = []
    count, _ = client.stat()
    for n in range(1, count + 1):
        _, lines, _ = client.retr(n)
        text = b"\r\n".join(lines) + b"\r\n"
        head, _, rest = text.partition(b"\r\n\r\n")
        seq = [l.split(b":", 1)[1].strip().decode() for l in head.split(b"\r\n") if l.lower().startswith(b"x-seq:")]
        messages.append({"seq": seq[0] if seq else "", "body": rest.decode(), "header": head.decode()})
        client.dele(n)
    client.quit()
    print(json.dumps(messages))

elif mode == "load":
    port, stopfile = int(sys.argv[2]), sys.argv[3]
    acked, refused, failures, seq = [], 0, {}, 0
    while not os.path.exists(stopfile):
        seq += 1
        ident = f"load-{seq}"
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                client.sendmail("load@client.test", ["you@domain1.com"], message("load@client.test", "you@domain1.com", ident))
            acked.append(ident)
        except ConnectionRefusedError:
            refused += 1
        except (smtplib.SMTPException, OSError) as error:
            # A 4xx or a dropped connection during a restart: not acknowledged, so the client
            # would simply try again; counted, not a failure of the test.
            key = type(error).__name__
            failures[key] = failures.get(key, 0) + 1
        time.sleep(0.02)
    print(json.dumps({"acked": acked, "refused": refused, "failures": failures}))

elif mode == "login":
    port, user, password, source = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]

    class FromSource(poplib.POP3):
        def _create_socket(self, timeout):
            return socket.create_connection((self.host, self.port), timeout, source_address=(source, 0))

    client = FromSource("127.0.0.1", port, timeout=30)
    client.user(user)
    print(json.dumps({"pass": client.pass_(password).decode()}))
    client.quit()

elif mode == "relay":
    port, source, recipient = int(sys.argv[2]), sys.argv[3], sys.argv[4]
    with smtplib.SMTP(timeout=30, source_address=(source, 0)) as client:
        client.connect("127.0.0.1", port)
        client.ehlo("client.system.test")
        client.mail("someone@client.test")
        code, text = client.rcpt(recipient)
        client.rset()
    print(json.dumps({"rcpt": f"{code} {text.decode()}"}))

elif mode == "connect":
    port, source = int(sys.argv[2]), sys.argv[3]
    result = {}
    with smtplib.SMTP(timeout=30, source_address=(source, 0)) as client:
        result["greeting"] = list(client.connect("127.0.0.1", port))
        result["greeting"][1] = result["greeting"][1].decode()
        code, text = client.ehlo("client.system.test")
        result["ehlo"] = code
        code, text = client.mail("someone@client.test")
        result["mail"] = f"{code} {text.decode()}"
    print(json.dumps(result))
