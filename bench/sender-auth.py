#!/usr/bin/python3
"""The cost of sender authentication on SMTP acceptance (issue 21): mailstack's durable
acceptance (bench/harness.py's setup: every service, messages held in the queue) driven by
Postfix's smtp-source, 2 KB messages with one recipient, with policy.spf/policy.dmarc off and
with policy.spf=check + policy.dmarc=enforce, the sender's SPF and DMARC records served by a
dnsmasq on loopback: "warm" with a 300 s TTL (relay-policy's cache answers after the first
message, as for a busy sender), "cold" with TTL 0 (every message asks the DNS server: one TXT
for SPF, one for _dmarc, each an IPC round trip from smtp-in to relay-policy and a UDP query).

usage: BIN=.build/release bench/sender-auth.py [--messages N] [--runs R] [--out FILE]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class Stack(harness.Mailstack):
    def __init__(self, binaries, work, smtp, pop3, sink, dns_port, checks):
        super().__init__(binaries, work, smtp, pop3, sink)
        self.dns_port, self.checks = dns_port, checks

    def args(self):
        extra = [f"dns.servers=127.0.0.1:{self.dns_port}"]
        if self.checks:
            extra += ["policy.spf=check", "policy.dmarc=enforce"]
        base = super().args()
        settings = [base[i + 1] for i in range(0, len(base), 2) if not base[i + 1].startswith("dns.servers=")]
        return [a for s in settings + extra for a in ("--set", s)]


def dnsmasq(port, ttl, work):
    conf = f"{work}/dns.conf"
    with open(conf, "w") as f:
        f.write('txt-record=client.test,"v=spf1 ip4:127.0.0.0/8 -all"\n')
        f.write('txt-record=_dmarc.client.test,"v=DMARC1; p=reject"\n')
        f.write("local=/test/\n")
    return subprocess.Popen(["/usr/sbin/dnsmasq", "--keep-in-foreground", f"--conf-file={conf}", "--no-resolv", "--no-hosts",
                             f"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces", "--user=root",
                             "--pid-file=", f"--local-ttl={ttl}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def point(binaries, mode, conns, messages):
    work = tempfile.mkdtemp(prefix="sender-auth-bench.")
    base = harness.free_port_base(5)
    smtp, pop3, sink_port, dns_port = base, base + 1, base + 2, base + 3
    dns = dnsmasq(dns_port, 0 if mode == "cold" else 300, work)
    sink = harness.Sink(sink_port)
    stack = Stack(binaries, work, smtp, pop3, sink_port, dns_port, checks=mode != "off")
    passwd = f"{work}/passwd"
    open(passwd, "w").write("you:{PLAIN}x\n")
    try:
        stack.start(passwd)
        harness.smtp_source(smtp, conns, 20, 2048, 1)  # warm-up (and the warm cache's first lookups)
        rate = harness.smtp_source(smtp, conns, messages, 2048, 1)
        if mode != "off":
            # The messages were checked: a held one carries the results.
            spool = f"{stack.dir}/spool/msg"
            held = open(f"{spool}/{sorted(os.listdir(spool))[-1]}", "rb").read()
            if b"spf=pass" not in held or b"dmarc=pass" not in held:
                raise RuntimeError("no SPF/DMARC pass in a held message: " + held[:2000].decode(errors="replace"))
        return rate
    finally:
        stack.stop()
        sink.stop()
        dns.terminate()
        dns.wait()
        subprocess.run(["rm", "-rf", work])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    binaries = os.path.abspath(os.environ.get("BIN") or sys.exit("BIN=folder of built binaries"))
    os.chdir(harness.ROOT)
    rows = []
    for conns in (1, 10):
        for mode in ("off", "warm", "cold"):
            rates = [point(binaries, mode, conns, args.messages) for _ in range(args.runs)]
            rows.append((conns, mode, statistics.median(rates), rates))
            print(f"{conns:>3} conns  {mode:<5} {statistics.median(rates):8.0f} msg/s  runs {[round(r) for r in rates]}", flush=True)
    lines = [f"# sender authentication on SMTP acceptance ({time.strftime('%Y-%m-%d')}, {binaries}, median of {args.runs} runs, "
             f"{args.messages} messages of 2 KB, 1 recipient, smtp-source)", ""]
    for conns in (1, 10):
        off = next(r[2] for r in rows if r[0] == conns and r[1] == "off")
        for c, mode, rate, rates in rows:
            if c == conns:
                lines.append(f"{conns:>3} connections  {mode:<5} {rate:8.0f} msg/s  ({rate / off:.2f}x of off)  runs {[round(r) for r in rates]}")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        open(args.out, "w").write(text)


if __name__ == "__main__":
    main()
