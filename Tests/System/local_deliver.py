#!/usr/bin/env python3
"""One local.deliver to local-delivery's socket, as the queue would send it, for the system
test (no protobuf library: the few fields are encoded by hand, as Shared/IPC/ipc.proto says).
Prints the answer as JSON: {"code": 250, "enhanced": "2.0.0", "text": "Sent"}, or the error.

usage: local_deliver.py SOCKET PROGRAM|FILE TARGET
"""
import json
import socket
import struct
import sys


def varint(n):
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def field(number, value):
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def frame(envelope):
    return struct.pack(">I", len(envelope)) + envelope


def fields(data):
    """Top-level fields of a message: {number: value} (varints as int, the rest as bytes)."""
    out, i = {}, 0
    while i < len(data):
        key, i = read_varint(data, i)
        number, kind = key >> 3, key & 7
        if kind == 0:
            out[number], i = read_varint(data, i)
        elif kind == 2:
            length, i = read_varint(data, i)
            out[number], i = data[i:i + length], i + length
        else:
            raise ValueError(f"wire type {kind}")
    return out


def read_varint(data, i):
    value, shift = 0, 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


sock_path, kind, target = sys.argv[1:4]
message = b"From: <a@client.test>\r\nSubject: system test\r\n\r\nFrom the system test\r\n"
hello = field(1, 2) + field(2, "queue") + field(3, 1 << 20)                      # Hello (protocol 2)
job = (field(1, "SYSTEST") + field(2, "a@client.test") + field(3, "info@domain1.com")
       + field(5, "info") + field(6, 1 if kind == "PROGRAM" else 2) + field(7, target))  # LocalDeliver
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sock_path)
s.sendall(frame(field(1, 0) + field(10, hello))
          + frame(field(1, 1) + field(2, 1) + field(100, job))                    # stream_follows
          + frame(field(1, 1) + field(12, field(1, message) + field(2, 1))))       # the last chunk


def exactly(n):
    data = b""
    while len(data) < n:
        part = s.recv(n - len(data))
        if not part:
            sys.exit("connection closed")
        data += part
    return data


while True:
    envelope = fields(exactly(struct.unpack(">I", exactly(4))[0]))
    if 101 in envelope:                                                            # LocalResult
        result = fields(envelope[101])
        print(json.dumps({"code": result.get(1, 0), "enhanced": result.get(2, b"").decode(),
                          "text": result.get(3, b"").decode()}))
        break
    if 11 in envelope and envelope.get(1, 0) != 0:                                 # Error
        error = fields(envelope[11])
        print(json.dumps({"error": error.get(1, 0), "message": error.get(2, b"").decode()}))
        break
