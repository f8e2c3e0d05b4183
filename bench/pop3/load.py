#!/usr/bin/env python3
"""POP3 load client for benchmarks: the same client drives mailstack's pop3 and Dovecot.

usage: load.py logins PORT CLIENTS SECONDS        -> logins per second (USER/PASS/QUIT), users u1..uN
       load.py retr   PORT CLIENTS ROUNDS         -> MB/s of RETR (every message of uK, pipelined)
Each client is its own process (one Python process tops out long before the servers do).
Prints one JSON line.
"""
import json
import multiprocessing
import socket
import sys
import time

PASSWORD = b"benchpass"


def connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_line(s, buf):
    while b"\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError
        buf += chunk
    line, _, rest = buf.partition(b"\r\n")
    return line, rest


def login(s, user, buf=b""):
    """Greeting, USER, PASS one at a time (as clients do), then STAT: the message count."""
    _, buf = read_line(s, buf)
    s.sendall(b"USER " + user + b"\r\n")
    _, buf = read_line(s, buf)
    s.sendall(b"PASS " + PASSWORD + b"\r\n")
    reply, buf = read_line(s, buf)
    if not reply.startswith(b"+OK"):
        raise RuntimeError(reply)
    return buf


def stat(s, buf):
    s.sendall(b"STAT\r\n")
    reply, buf = read_line(s, buf)
    return int(reply.split()[1]), buf


def logins_worker(args):
    port, index, seconds = args
    user = b"u%d" % index
    count, deadline = 0, time.time() + seconds
    latencies = []
    while time.time() < deadline:
        start = time.time()
        s = connect(port)
        buf = login(s, user)
        s.sendall(b"QUIT\r\n")
        read_line(s, buf)
        s.close()
        latencies.append(time.time() - start)
        count += 1
    return count, latencies


def retr_worker(args):
    port, index, rounds = args
    user = b"u%d" % index
    total = 0
    for _ in range(rounds):
        s = connect(port)
        messages, buf = stat(s, login(s, user))
        s.sendall(b"".join(b"RETR %d\r\n" % n for n in range(1, messages + 1)))
        seen, tail = 0, buf
        total += len(buf)
        while seen < messages:
            chunk = s.recv(1 << 20)
            if not chunk:
                raise EOFError
            total += len(chunk)
            data = tail + chunk
            seen += data.count(b"\r\n.\r\n") - tail.count(b"\r\n.\r\n")
            tail = data[-4:]
        # Wait for QUIT's reply: the next round logs in again as the same user, and a server
        # that locks the mailbox for the session (mailstack; qpopper) releases it at QUIT.
        s.sendall(b"QUIT\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
        s.close()
    return total


def main():
    mode, port, clients, amount = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    with multiprocessing.Pool(clients) as pool:
        start = time.time()
        if mode == "logins":
            results = pool.map(logins_worker, [(port, i + 1, amount) for i in range(clients)])
            elapsed = time.time() - start
            latencies = sorted(l for _, ls in results for l in ls)
            n = sum(c for c, _ in results)
            print(json.dumps({"mode": mode, "clients": clients, "logins_per_s": n / elapsed,
                              "p50_ms": 1000 * latencies[len(latencies) // 2],
                              "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)]}))
        else:
            octets = sum(pool.map(retr_worker, [(port, i + 1, int(amount)) for i in range(clients)]))
            elapsed = time.time() - start
            print(json.dumps({"mode": mode, "clients": clients, "mb_per_s": octets / elapsed / 1e6}))


if __name__ == "__main__":
    main()
