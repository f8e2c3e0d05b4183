#!/usr/bin/env python3
"""CPU per message in a steady flow: mailstack accepting messages while it delivers them, as a
host does in use (queue.delivery_mode=background, every message relayed to smtp-sink), unlike
bench/run.sh, whose acceptance figures hold every message (queueonly) to measure acceptance
alone. Started as bench/harness.py starts mailstack (same settings otherwise), loopback only.
Prints messages/s from the first connection to the spool drained, and the CPU (user + system)
each service spent per message.

    bench/flow.py --bin .build/release                      # as root
    bench/flow.py --bin .build/release --messages 3000 --connections 2

A diagnosis tool for A/B comparisons (alternate the two builds, several times: this machine's
file system and neighbours change the figures between minutes), not a benchmark."""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


class Flowing(h.Mailstack):
    """mailstack as the benchmark runs it, but delivering each message as soon as it is queued."""

    def args(self):
        return ["queue.delivery_mode=background" if a == "queue.delivery_mode=queueonly" else a for a in super().args()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True, help="folder with the mailstack executable")
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--filesystem", choices=h.FILESYSTEMS, default="fresh-ext4", help=h.FILESYSTEM_HELP)
    args = parser.parse_args()
    h.finish_on_sigterm()
    os.chdir(h.ROOT)
    with h.scratch("mailstack-flow.", args.filesystem) as work:
        measure(args, work)


def measure(args, work):
    base = h.free_port_base()
    sink = h.Sink(base + 4)
    ours = Flowing(os.path.abspath(args.bin), work, base, base + 1, base + 4)
    passwd = h.write_passwd(work)
    spool = f"{ours.dir}/spool/msg"
    try:
        ours.start(passwd)
        pids = {name: process.pid for name, process in ours.processes.items()}
        before = {name: h.cpu_seconds([pid]) for name, pid in pids.items()}
        started = time.time()
        h.smtp_source(ours.smtp, args.connections, args.messages, args.size, 1)
        # Drained: only blanks (.blank-N) left in msg/.
        deadline = time.time() + 300
        while any(not name.startswith(".") for name in os.listdir(spool)):
            if time.time() > deadline:
                raise RuntimeError("the spool did not drain within 300 s")
            time.sleep(0.05)
        elapsed = time.time() - started
        after = {name: h.cpu_seconds([pid]) for name, pid in pids.items()}
        spent = {name: (after[name] - before[name]) / args.messages * 1e6 for name in pids}
        per = ", ".join(f"{name} {value:.0f}" for name, value in sorted(spent.items(), key=lambda x: -x[1]) if value > 0)
        print(f"{args.messages / elapsed:.0f} msg/s accepted and delivered; CPU per message (µs): {per}")
    finally:
        ours.stop()
        sink.stop()


if __name__ == "__main__":
    main()
