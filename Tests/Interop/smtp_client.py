#!/usr/bin/env python3
"""SMTP checks with Python's smtplib and ssl (test certificate, not verified). Prints JSON.

usage: smtp_client.py PORT SOURCE MODE [args]
  send FROM TO MESSAGE-ID        plain ESMTP from SOURCE, one message
  starttls FROM TO MESSAGE-ID    STARTTLS first, then the message
  inject                         RSET pipelined in plaintext behind STARTTLS must not be answered
  inject-segments                HELP x30000 + STARTTLS, then MAIL in a later TCP segment while the
                                 server is still answering: the MAIL must not reach the TLS session
  auth USER PASSWORD FROM TO ID  submission: STARTTLS, AUTH PLAIN (and LOGIN), then the message
"""
import json
import smtplib
import socket
import ssl
import sys

port, source, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
result = {}


def message(sender, recipient, message_id):
    return (f"From: <{sender}>\r\nTo: <{recipient}>\r\nSubject: interop\r\nMessage-ID: {message_id}\r\n\r\n"
            f".a line with a leading dot\r\nbody\r\n")


def send(client, sender, recipient, message_id):
    refused = client.sendmail(sender, [recipient], message(sender, recipient, message_id))
    result["refused"] = {k: [v[0], v[1].decode()] for k, v in refused.items()}
    result["last"] = [client.last_reply[0], client.last_reply[1].decode()] if hasattr(client, "last_reply") else None


class Client(smtplib.SMTP):
    def getreply(self):
        code, text = super().getreply()
        self.last_reply = (code, text)
        return code, text


if mode in ("send", "starttls"):
    sender, recipient, message_id = sys.argv[4:7]
    client = Client("127.0.0.1", port, source_address=(source, 0), timeout=10)
    client.ehlo("client.test")
    result["features"] = sorted(client.esmtp_features.keys())
    if mode == "starttls":
        result["starttls"] = list(client.starttls(context=context))
        result["starttls"][1] = result["starttls"][1].decode()
        result["cipher"] = client.sock.version()
        client.ehlo("client.test")
        result["features_after"] = sorted(client.esmtp_features.keys())
    send(client, sender, recipient, message_id)
    client.quit()
elif mode == "inject":
    raw = socket.create_connection(("127.0.0.1", port), source_address=(source, 0), timeout=10)
    reader = raw.makefile("rb")
    reader.readline()
    raw.sendall(b"EHLO client.test\r\n")
    while True:
        line = reader.readline()
        if line[3:4] == b" ":
            break
    raw.sendall(b"STARTTLS\r\nRSET\r\n")
    result["starttls"] = reader.readline().decode().strip()
    tls = context.wrap_socket(raw)
    tls.settimeout(1.0)
    try:
        result["unexpected"] = tls.recv(1000).decode()
    except (socket.timeout, TimeoutError):
        result["unexpected"] = ""
    tls.settimeout(10)
    tls.sendall(b"MAIL FROM:<a@client.test>\r\n")
    result["after_tls"] = tls.recv(1000).decode().strip()
elif mode == "inject-segments":
    raw = socket.create_connection(("127.0.0.1", port), source_address=(source, 0), timeout=30)
    reader = raw.makefile("rb")
    reader.readline()
    raw.sendall(b"EHLO client.test\r\n" + b"HELP\r\n" * 30000 + b"STARTTLS\r\n")
    raw.sendall(b"MAIL FROM:<injected@evil.example>\r\n")  # a second segment, while replies are still being written
    seen = []
    while True:
        line = reader.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith(b"220 "):
            break
    result["starttls"] = seen[-1].decode().strip() if seen else ""
    result["plaintext_replies"] = len(seen)
    tls = context.wrap_socket(raw)
    tls_reader = tls.makefile("rb")
    tls.sendall(b"EHLO client.test\r\n")
    ehlo = []
    while True:
        line = tls_reader.readline().decode()
        ehlo.append(line.strip())
        if line[3:4] == " " or not line:
            break
    result["ehlo_after_tls"] = ehlo[0] if ehlo else ""
    tls.sendall(b"MAIL FROM:<ok@client.test>\r\n")
    result["mail_after_tls"] = tls_reader.readline().decode().strip()
elif mode == "auth":
    user, password, sender, recipient, message_id = sys.argv[4:9]
    client = Client("127.0.0.1", port, source_address=(source, 0), timeout=10)
    client.ehlo("client.test")
    result["features"] = sorted(client.esmtp_features.keys())
    try:
        client.mail(sender)
        result["mail_before_auth"] = [client.last_reply[0], client.last_reply[1].decode()]
    except smtplib.SMTPException as error:
        result["mail_before_auth"] = str(error)
    client.rset()
    client.starttls(context=context)
    client.ehlo("client.test")
    result["features_after"] = sorted(client.esmtp_features.keys())
    try:
        client.login(user, "wrong-" + password)
    except smtplib.SMTPAuthenticationError as error:
        result["bad_login"] = [error.smtp_code, error.smtp_error.decode()]
    client.user, client.password = user, password
    code, text = client.auth("LOGIN", client.auth_login)
    result["login"] = [code, text.decode()]
    send(client, sender, recipient, message_id)
    client.quit()
print(json.dumps(result))
