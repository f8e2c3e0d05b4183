#!/usr/bin/env python3
"""Where mailstack's memory at rest goes: PSS of every service broken down by mapping.

    bench/memory.py --bin .build/release            start the services as bench/harness.py does
                                                    (same settings), wait, report, stop them
    bench/memory.py --bin .build/release --peers    also Postfix + Dovecot (as the benchmark runs them)
    bench/memory.py --pids 123 456                  report on processes already running (under systemd)
    bench/memory.py ... --detail queue              also every mapping of one service
    bench/memory.py --bin DIR --then bench/code-pages.py   which modules of each binary's code are resident
    bench/memory.py ... --json FILE                 every figure, for comparing runs

For each process, from /proc/PID/smaps: PSS (KB) of the binary's own code (r-x), its read-only
data and relocated data, each group of shared libraries (Swift runtime and stdlib, Foundation,
ICU, dispatch, glibc and other system libraries), the main heap ([heap]), glibc's further
malloc arenas (anonymous 64 MiB-aligned heaps), thread stacks (the mapping that holds each
thread's stack pointer, from /proc/PID/task/TID/syscall), other anonymous memory, and the
thread count. PSS divides a page mapped by N processes by N; the table counts N among the
processes measured only (from their page frames in /proc/PID/pagemap), so its total is what they
hold together whatever else runs, while the kernel's PSS (the benchmark's figure, also printed)
drops when a compiler or another Swift program shares the runtime's pages. As root (page frames,
stack pointers and other users' smaps need it). Numbers, not pass/fail.
"""
import argparse
import collections
import json
import os
import re
import sys
import tempfile
import time
import shutil
import struct
import subprocess

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402  (the benchmark's own way to start mailstack, Postfix and Dovecot)

HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \d+\s*(.*)$")
ARENA_ALIGN = 64 << 20
PAGE = 4096
PFN_MASK = (1 << 55) - 1  # glibc's HEAP_MAX_SIZE on 64-bit: secondary arenas are aligned to it


def library_group(path):
    name = os.path.basename(path)
    if ".so" not in name:
        return "mapped files (maps, databases)"
    if "ICU" in name or name.startswith("libicu"):
        return "ICU"
    if "Foundation" in name:
        return "Foundation"
    if name.startswith("libdispatch") or name.startswith("libBlocksRuntime"):
        return "dispatch"
    if name.startswith("libswift") or "/swift/" in path:
        return "Swift runtime"
    if name.startswith(("libc.so", "libc-", "libm.so", "libpthread", "libdl", "libgcc_s", "libstdc++", "ld-linux", "librt", "libresolv")):
        return "libc, libstdc++"
    return "other .so"


def stack_pointers(pid):
    """The stack pointer of every thread (the second-to-last field of /proc/PID/task/TID/syscall)."""
    sps = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            fields = open(f"/proc/{pid}/task/{tid}/syscall").read().split()
            if len(fields) >= 3:
                sps.append(int(fields[-2], 16))
        except (OSError, ValueError):
            pass
    return sps


def smaps(pid):
    """Every mapping of `pid`: start, end, perms, path, and its Rss, Pss and Private_Dirty (KB)."""
    mappings, current = [], None
    for line in open(f"/proc/{pid}/smaps"):
        m = HEADER.match(line)
        if m:
            current = {"start": int(m.group(1), 16), "end": int(m.group(2), 16), "perms": m.group(3),
                       "path": m.group(4).strip(), "Pss": 0, "Rss": 0, "Private_Dirty": 0}
            mappings.append(current)
        elif current is not None:
            key, _, rest = line.partition(":")
            if key in ("Pss", "Rss", "Private_Dirty"):
                current[key] = int(rest.split()[0])
    return mappings


def breakdown(pid):
    exe = os.readlink(f"/proc/{pid}/exe")
    sps = stack_pointers(pid)
    groups, mappings = {}, smaps(pid)
    for mapping in mappings:
        path, perms = mapping["path"], mapping["perms"]
        if path == exe or path.startswith(exe + " "):
            group = "binary code" if "x" in perms else ("binary data" if "w" in perms else "binary rodata")
        elif path.startswith("/"):
            group = library_group(path)
        elif path == "[heap]":
            group = "heap (main arena)"
        elif path == "[stack]":
            group = "thread stacks"
        elif path.startswith("["):
            group = "kernel ([vdso], [vvar])"
        elif any(mapping["start"] <= sp < mapping["end"] for sp in sps):
            group = "thread stacks"
        elif mapping["start"] % ARENA_ALIGN == 0 and mapping["end"] - mapping["start"] <= ARENA_ALIGN:
            group = "malloc arenas"
        else:
            group = "other anonymous"
        mapping["group"] = group
        slot = groups.setdefault(group, {"Pss": 0, "Rss": 0, "Private_Dirty": 0})
        for key in slot:
            slot[key] += mapping[key]
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for mapping in mappings:
            mapping["frames"] = []
            if mapping["Rss"] == 0 or mapping["path"] == "[vsyscall]":
                continue
            pagemap.seek(mapping["start"] // PAGE * 8)
            entries = pagemap.read((mapping["end"] - mapping["start"]) // PAGE * 8)
            mapping["frames"] = [e & PFN_MASK for (e,) in struct.iter_unpack("<Q", entries) if e >> 63]
    threads = len(os.listdir(f"/proc/{pid}/task"))
    names = sorted(open(f"/proc/{pid}/task/{t}/comm").read().strip() for t in os.listdir(f"/proc/{pid}/task"))
    return {"pid": pid, "exe": exe, "threads": threads, "thread_names": names, "groups": groups,
            "pss": sum(g["Pss"] for g in groups.values()), "mappings": mappings}


def share_among(reports):
    """PSS counted among these processes only ("Set"): a page mapped by n of them costs each 1/n,
    whoever else maps it. The kernel's PSS also divides by processes outside the set (a compiler
    sharing the Swift runtime), so it moves with what else runs; this does not."""
    users = collections.Counter()
    for r in reports.values():
        for mapping in r["mappings"]:
            users.update(set(mapping["frames"]))
    for r in reports.values():
        for mapping in r.pop("mappings"):
            kb = sum(PAGE / 1024 / users[f] for f in mapping["frames"])
            r["groups"][mapping["group"]]["Set"] = r["groups"][mapping["group"]].get("Set", 0) + kb
        for g in r["groups"].values():
            g["Set"] = round(g.get("Set", 0))
        r["pss_set"] = sum(g["Set"] for g in r["groups"].values())


def detail(name, pid):
    """Every mapping of `pid` with 16 KB or more resident: KB resident, proportional, private dirty."""
    print(f"\n{name} (pid {pid}): mappings with Rss >= 16 KB (KB)")
    print("perms      size     rss     pss  pdirty  path")
    for r in smaps(pid):
        if r["Rss"] >= 16:
            size = (r["end"] - r["start"]) >> 10
            print(f"{r['perms']} {size:>9} {r['Rss']:>7} {r['Pss']:>7} {r['Private_Dirty']:>7}  {(r['path'] or '[anon]')[-60:]}")


ORDER = ["binary code", "binary rodata", "binary data", "Swift runtime", "Foundation", "ICU", "dispatch",
         "libc, libstdc++", "other .so", "mapped files (maps, databases)", "heap (main arena)", "malloc arenas", "thread stacks", "other anonymous",
         "kernel ([vdso], [vvar])"]


def table(title, reports):
    names = list(reports)
    width = max(len(n) for n in names + ["total"]) + 2
    print(f"\n{title}: PSS in KB per mapping group, pages shared only among these processes (threads last)")
    print("group".ljust(24) + "".join(n.rjust(width) for n in names) + "total".rjust(width))
    groups = [g for g in ORDER if any(g in r["groups"] for r in reports.values())]
    for g in groups:
        values = [reports[n]["groups"].get(g, {}).get("Set", 0) for n in names]
        print(g.ljust(24) + "".join(str(v).rjust(width) for v in values) + str(sum(values)).rjust(width))
    values = [reports[n]["pss_set"] for n in names]
    print("PSS".ljust(24) + "".join(str(v).rjust(width) for v in values) + str(sum(values)).rjust(width))
    values = [reports[n]["pss"] for n in names]
    print("kernel's PSS".ljust(24) + "".join(str(v).rjust(width) for v in values) + str(sum(values)).rjust(width))
    values = [reports[n]["threads"] for n in names]
    print("threads".ljust(24) + "".join(str(v).rjust(width) for v in values) + str(sum(values)).rjust(width))


def others_sharing(ours, library="libswiftCore.so"):
    """Processes outside `ours` that map the Swift runtime: they take a share of its pages' PSS
    (a compiler or swift-build running alongside lowers the services' figures by several MB)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in ours:
            try:
                if library in open(f"/proc/{entry}/maps").read():
                    found.append(f"{open(f'/proc/{entry}/comm').read().strip()}[{entry}]")
            except OSError:
                pass
    return found


def tree_pids(roots):
    return sorted(harness.tree(roots))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", help="folder of the built binaries: start the services as the benchmark does")
    parser.add_argument("--pids", type=int, nargs="*", help="report on these running processes instead")
    parser.add_argument("--peers", action="store_true", help="also start Postfix + Dovecot and report on them")
    parser.add_argument("--settle", type=float, default=2, help="seconds to wait after start")
    parser.add_argument("--threads", action="store_true", help="print each process's thread names")
    parser.add_argument("--detail", action="append", default=[], help="also print every mapping of this service (or pid) with 16 KB or more resident")
    parser.add_argument("--then", help="before stopping the services, run this command with NAME=PID of each appended")
    parser.add_argument("--json", help="write every figure here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("memory.py: run as root (stack pointers and other users' smaps)")
    result = {}
    if args.pids:
        reports = {}
        for pid in args.pids:
            r = breakdown(pid)
            reports[f"{os.path.basename(r['exe'])}[{pid}]"] = r
        share_among(reports)
        table("processes", reports)
        for pid in args.pids:
            if str(pid) in args.detail:
                detail(str(pid), pid)
        result["processes"] = reports
    else:
        if not args.bin:
            sys.exit("memory.py: --bin DIR or --pids PID...")
        work = tempfile.mkdtemp(prefix="mailstack-memory.", dir="/var/tmp")
        os.chmod(work, 0o755)
        base = harness.free_port_base()
        passwd = harness.write_passwd(work)
        ours = harness.Mailstack(os.path.abspath(args.bin), work, base, base + 1, base + 4)
        sink = postfix = dovecot = None
        try:
            ours.start(passwd)
            if args.peers:
                sink = harness.Sink(base + 4)
                postfix = harness.Postfix(work, base + 2, base + 4)
                postfix.start()
                dovecot = harness.Dovecot(work, base + 3, passwd)
                dovecot.start()
            time.sleep(args.settle)
            reports = {name: breakdown(p.pid) for name, p in ours.processes.items()}
            share_among(reports)
            sharing = others_sharing(set(ours.pids()))
            if sharing:
                print(f"note: {', '.join(sharing[:8])} also map the Swift runtime: the kernel's PSS is lower than on a quiet machine (the table is not)")
            result["others mapping the Swift runtime"] = sharing
            for name in args.detail:
                if name in ours.processes:
                    detail(name, ours.processes[name].pid)
            table("mailstack", reports)
            result["mailstack"] = reports
            if args.then:
                subprocess.run(args.then.split() + [f"{name}={p.pid}" for name, p in ours.processes.items()], cwd=harness.ROOT, check=False)
            if args.peers:
                peers = {}
                for pid in tree_pids(postfix.pids() + dovecot.pids()):
                    try:
                        r = breakdown(pid)
                    except OSError:
                        continue
                    peers[f"{open(f'/proc/{pid}/comm').read().strip()}[{pid}]"] = r
                share_among(peers)
                table("Postfix + Dovecot", peers)
                result["peers"] = peers
        finally:
            ours.stop()
            for system in (dovecot, postfix, sink):
                if system is not None:
                    system.stop()
            shutil.rmtree(work, ignore_errors=True)
    if args.threads:
        for group in result.values():
            for name, r in (group.items() if isinstance(group, dict) else []):
                print(f"{name}: {', '.join(r['thread_names'])}")
    for name, group in result.items():
        if not isinstance(group, dict):
            continue
        print(f"{name}: {sum(r['pss_set'] for r in group.values()) / 1024:.1f} MB PSS among its processes "
              f"(kernel's PSS {sum(r['pss'] for r in group.values()) / 1024:.1f} MB), "
              f"{sum(r['threads'] for r in group.values())} threads")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
