#!/usr/bin/env python3
"""Fetches a mailbox with Python's poplib (a real POP3 client) and prints what it saw as JSON:
the greeting, CAPA, STAT, UIDLs and every message's bytes (hex), then deletes them if asked.

usage: poplib_fetch.py PORT USER PASSWORD [--delete] [--apop] [--source ADDRESS]
"""
import json
import poplib
import socket
import sys

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]


class SourcedPOP3(poplib.POP3):
    """poplib from a chosen local address (127.0.0.2, ...), as POP-before-SMTP clients are."""
    source = None

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(self.source, 0) if self.source else None)


if "--source" in sys.argv:
    SourcedPOP3.source = sys.argv[sys.argv.index("--source") + 1]
client = SourcedPOP3("127.0.0.1", port, timeout=10)
result = {"greeting": client.getwelcome().decode()}
result["capa"] = sorted(client.capa().keys())
if "--apop" in sys.argv:
    result["login"] = client.apop(user, password).decode()
else:
    client.user(user)
    result["login"] = client.pass_(password).decode()
count, octets = client.stat()
result["stat"] = [count, octets]
result["uidl"] = [line.decode() for line in client.uidl()[1]]
messages = []
for number in range(1, count + 1):
    _, lines, size = client.retr(number)
    messages.append({"size": size, "hex": (b"\n".join(lines) + b"\n").hex()})
    if "--delete" in sys.argv:
        client.dele(number)
result["messages"] = messages
result["quit"] = client.quit().decode()
print(json.dumps(result))
