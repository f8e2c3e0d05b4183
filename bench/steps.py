#!/usr/bin/env python3
"""Where one connection's time goes, command by command: mailstack against Postfix (SMTP) and
Dovecot in its high-performance configuration (POP3), started as bench/harness.py starts them,
one client, loopback only. Prints the median time from sending each command to its reply (µs),
and for SMTP the CPU each process spent per message.

    bench/steps.py --bin .build/release            # as root
    bench/steps.py --bin .build/release --rcpts 10 --messages 500

A diagnosis tool (README "Performance"), not a benchmark: strace or perf can be attached to the
services while it runs."""
import argparse
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def by_name(pids):
    names = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm") as f:
                names.setdefault(f.read().strip(), []).append(pid)
        except (FileNotFoundError, ProcessLookupError):  # the process ended meanwhile
            pass
    return names


def converse(port, commands, greeting=True, multiline=True):
    """Times each (name, bytes) of one connection; returns [(name, seconds)]."""
    start = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")

    def reply():
        while True:
            line = f.readline()
            if not line:
                raise RuntimeError("connection closed")
            if not multiline or line[3:4] != b"-":
                return line
    steps = []
    if greeting:
        reply()
        steps.append(("connect+greeting", time.perf_counter() - start))
    for name, data in commands:
        t = time.perf_counter()
        s.sendall(data)
        line = reply()
        if line[:1] not in (b"2", b"3", b"+"):
            raise RuntimeError(f"{name}: {line!r}")
        steps.append((name, time.perf_counter() - t))
    s.close()
    return steps


def medians(port, commands, n, multiline):
    times = {}
    for _ in range(n):
        for name, seconds in converse(port, commands, multiline=multiline):
            times.setdefault(name, []).append(seconds)
    return {name: statistics.median(v) * 1e6 for name, v in times.items()}


def show(system, result, extra=""):
    print(f"{system:>14}: " + "  ".join(f"{k} {v:.0f}" for k, v in result.items()) + f"  | sum {sum(result.values()):.0f} µs{extra}",
          flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rcpts", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--filesystem", choices=h.FILESYSTEMS, default="fresh-ext4", help=h.FILESYSTEM_HELP)
    args = parser.parse_args()
    h.finish_on_sigterm()
    with h.scratch("mailstack-steps.", args.filesystem) as work:
        measure(args, work)


def measure(args, work):
    base = h.free_port_base()
    sink = h.Sink(base + 4)
    ours = h.Mailstack(args.bin, work, base, base + 1, base + 4)
    postfix = h.Postfix(work, base + 2, base + 4)
    passwd = h.write_passwd(work)
    dovecot = h.Dovecot(work, base + 5, passwd, tuned=True)
    body = ("Subject: steps\r\n\r\n" + ("a" * 70 + "\r\n") * 28).encode() + b".\r\n"
    smtp = [("EHLO", b"EHLO client.example\r\n"), ("MAIL", b"MAIL FROM:<a@example.org>\r\n")]
    smtp += [("RCPT", f"RCPT TO:<u{r + 1}@localhost>\r\n".encode()) for r in range(args.rcpts)]
    smtp += [("DATA", b"DATA\r\n"), ("body+250", body), ("QUIT", b"QUIT\r\n")]
    pop3 = [("USER", b"USER u1\r\n"), ("PASS", f"PASS {h.PASSWORD}\r\n".encode()), ("STAT", b"STAT\r\n"), ("QUIT", b"QUIT\r\n")]
    try:
        ours.start(passwd)
        postfix.start()
        dovecot.start()
        h.fill_maildirs(f"{ours.dir}/maildirs", 200, 2048)
        h.fill_maildirs(f"{dovecot.dir}/mail", 200, 2048, owner="nobody:nogroup")
        time.sleep(1)
        print(f"SMTP, one connection per message, {args.rcpts} recipient(s), 2 KB; median µs per step")
        for _ in range(args.rounds):
            for system, port in (("mailstack", ours.smtp), ("Postfix", postfix.port)):
                # Postfix: the master and every process below it, those it reaped included.
                names = by_name(ours.pids()) if system == "mailstack" else {"postfix": postfix.pids()}
                reaped = system == "Postfix"
                before = {name: h.cpu_seconds(h.descendants(p[0]) if reaped else p, reaped) for name, p in names.items()}
                kernel = sum(h.cpu_seconds(p, kernel_only=True) for p in names.values())
                result = medians(port, smtp, args.messages, True)
                spent = {name: (h.cpu_seconds(h.descendants(p[0]) if reaped else p, reaped) - before[name]) / args.messages * 1e6
                         for name, p in names.items()}
                kernel = (sum(h.cpu_seconds(p, kernel_only=True) for p in names.values()) - kernel) / args.messages * 1e6
                extra = "; CPU per message " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(spent.items(), key=lambda x: -x[1]) if v > 0)
                if not reaped:
                    extra += f" (system {kernel:.0f} of the {sum(spent.values()):.0f})"
                show(system, result, extra)
        print("POP3 login to a 200-message mailbox; median µs per step")
        for _ in range(args.rounds):
            for system, port in (("mailstack", ours.pop3), ("Dovecot tuned", dovecot.port)):
                show(system, medians(port, pop3, max(50, args.messages // 3), False))
    finally:
        for stop in (ours.stop, postfix.stop, dovecot.stop, sink.stop):
            try:
                stop()
            except Exception as error:
                print(f"stop: {error}")


if __name__ == "__main__":
    main()
