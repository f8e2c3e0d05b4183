#!/usr/bin/env python3
"""Which of each service's own code is resident, by module, and what they hold together.

    bench/memory.py --bin .build/release --then bench/code-pages.py

(memory.py starts the services and calls this with NAME=PID of each.) For each process: the
resident pages of its executable's own mappings (/proc/PID/pagemap, as root), by ELF section, and
the code among them by module (from the unstripped binary's symbols: a Swift symbol's module is
the first name in its mangling; BoringSSL and libyaml by prefix). Then the union of the resident
code symbols over every service. Written when the services were seven binaries carrying the same
modules (NIO, swift-protobuf, AsyncAlgorithms, ...), to estimate what one multi-call binary would
keep resident; now that they are one (the mailstack executable), the union is what the page cache
holds for all of them, and each process's figure counts pages the others share.
"""
import collections
import os
import re
import struct
import subprocess
import sys

PAGE = 4096


def resident(pid, start, end):
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        pagemap.seek(start // PAGE * 8)
        entries = pagemap.read((end - start) // PAGE * 8)
    return [start + i * PAGE for i in range(len(entries) // 8) if struct.unpack_from("<Q", entries, i * 8)[0] >> 63]


def module_of(symbol):
    m = re.match(r"^\$s(\d+)([A-Za-z_]\w*)", symbol)
    if m:
        return m.group(2)[: int(m.group(1))]
    if symbol.startswith("$s"):
        return "Swift stdlib specializations"
    if "BoringSSL" in symbol:
        return "BoringSSL"
    if symbol.startswith("yaml_"):
        return "libyaml"
    return "C, other"


def analyse(pid):
    exe = os.readlink(f"/proc/{pid}/exe")
    base, pages = None, []
    for line in open(f"/proc/{pid}/maps"):
        fields = line.split()
        if len(fields) >= 6 and fields[5] == exe:
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if base is None:
                base = start - int(fields[2], 16)
            pages += [(page - base, fields[1]) for page in resident(pid, start, end)]
    sections = []
    for line in subprocess.run(["readelf", "-SW", exe], capture_output=True, text=True).stdout.splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", line)
        if m and int(m.group(2), 16):
            sections.append((int(m.group(2), 16), int(m.group(2), 16) + int(m.group(3), 16), m.group(1)))
    by_section = collections.Counter()
    for page, perms in pages:
        name = next((n for s, e, n in sections if s <= page < e), "?")
        by_section[f"{name} ({perms})"] += PAGE // 1024
    code = {page for page, perms in pages if "x" in perms}
    symbols = {}
    for line in subprocess.run(["nm", "-S", "--defined-only", exe], capture_output=True, text=True).stdout.splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[2] in "tTwW":
            address, size = int(fields[0], 16), int(fields[1], 16)
            first, last = address // PAGE * PAGE, (address + max(size, 1) - 1) // PAGE * PAGE
            if any(page in code for page in range(first, last + 1, PAGE)):
                symbols[fields[3]] = size
    by_module = collections.Counter()
    for name, size in symbols.items():
        by_module[module_of(name)] += size
    return by_section, by_module, symbols, len(code) * PAGE // 1024


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: bench/memory.py --bin DIR --then bench/code-pages.py   (or: code-pages.py NAME=PID ...)")
    union, code_kb, symbol_bytes = {}, 0, 0
    for argument in sys.argv[1:]:
        name, pid = argument.split("=")
        by_section, by_module, symbols, kb = analyse(int(pid))
        union.update(symbols)
        code_kb += kb
        symbol_bytes += sum(symbols.values())
        print(f"{name}: {kb} KB of its code pages resident")
        print("  by section (KB): " + ", ".join(f"{k} {v}" for k, v in by_section.most_common(8)))
        print("  code by module (KB of the functions in resident pages): "
              + ", ".join(f"{k} {v // 1024}" for k, v in by_module.most_common(10)))
    union_kb = sum(union.values()) / 1024
    print(f"all: {code_kb} KB of code pages resident in {len(sys.argv) - 1} processes; the functions in them: "
          f"{symbol_bytes // 1024} KB, {union_kb:.0f} KB once each")
    if symbol_bytes and len({os.readlink(f"/proc/{a.split('=')[1]}/exe") for a in sys.argv[1:]}) > 1:
        print(f"one multi-call binary: about {union_kb * code_kb * 1024 / symbol_bytes:.0f} KB of code resident, shared by all")


if __name__ == "__main__":
    main()
