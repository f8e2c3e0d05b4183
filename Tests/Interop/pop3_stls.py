#!/usr/bin/env python3
"""STLS checks with Python's poplib and ssl (certificate not verified: a test certificate).

usage: pop3_stls.py PORT USER PASSWORD login   -> STLS, then USER/PASS, STAT (JSON)
       pop3_stls.py PORT USER PASSWORD inject  -> commands pipelined behind STLS must be discarded
"""
import json
import poplib
import socket
import ssl
import sys

port, user, password, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
result = {}
if mode == "login":
    client = poplib.POP3("127.0.0.1", port, timeout=10)
    result["capa_before"] = sorted(client.capa().keys())
    result["stls"] = client.stls(context).decode()
    result["cipher"] = client.sock.cipher()[1]
    result["capa_after"] = sorted(client.capa().keys())
    client.user(user)
    result["login"] = client.pass_(password).decode()
    result["stat"] = list(client.stat())
    result["quit"] = client.quit().decode()
else:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    greeting = b""
    while not greeting.endswith(b"\r\n"):
        greeting += raw.recv(1)
    # STLS and, in the same packet, plaintext an attacker injected behind it.
    raw.sendall(b"STLS\r\nUSER " + user.encode() + b"\r\nPASS " + password.encode() + b"\r\n")
    reply = b""
    while not reply.endswith(b"\r\n"):
        reply += raw.recv(1)
    result["stls"] = reply.decode().strip()
    tls = context.wrap_socket(raw)
    tls.sendall(b"STAT\r\n")
    answer = b""
    while not answer.endswith(b"\r\n"):
        answer += tls.recv(1)
    result["after_tls"] = answer.decode().strip()
print(json.dumps(result))
