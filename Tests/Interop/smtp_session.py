#!/usr/bin/env python3
"""One SMTP session from a chosen source address, command by command, with raw sockets so
every reply is seen exactly. Prints the replies as JSON: the greeting first, then one per
command (a multi-line reply joined with "\\n").

usage: smtp_session.py PORT SOURCE COMMAND...
  DATA is followed by the message text (LF line ends become CRLF; dot-stuffed here), and
  records the 354 and the reply to the final dot as two replies (without a 354, the text is
  not sent).
"""
import json
import socket
import sys

port, source, commands = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
connection = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
stream = connection.makefile("rb")


def reply():
    lines = []
    while True:
        line = stream.readline()
        if not line:
            lines.append("(closed)")
            break
        lines.append(line.decode().rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            break
    return "\n".join(lines)


replies = [reply()]
index = 0
while index < len(commands):
    command = commands[index]
    connection.sendall(command.encode() + b"\r\n")
    replies.append(reply())
    if command.upper() == "DATA":
        index += 1
        if not replies[-1].startswith("354"):
            index += 1
            continue
        text = commands[index].replace("\r\n", "\n").split("\n")
        if text and text[-1] == "":
            text.pop()
        body = "".join(("." + line if line.startswith(".") else line) + "\r\n" for line in text)
        connection.sendall(body.encode() + b".\r\n")
        replies.append(reply())
    index += 1
connection.close()
print(json.dumps(replies))
