#!/usr/bin/env python3
"""mailstack side by side with Postfix and Dovecot, on this machine, in the same run.

Started by bench/run.sh (which installs and builds first). Each run starts, on loopback ports:
  * mailstack: all six services (the seed's maps, queue in queueonly so acceptance is measured,
    outbound.smart_host = the smtp-sink, pop3 on the benchmark users' Maildirs);
  * Postfix 3.7 (bench/postfix/start.sh: own queue, every message held after its durable
    acceptance, relayhost = the same smtp-sink) and Dovecot's POP3 (same users, same password
    hashes, same mailboxes);
  * Postfix's smtp-sink, the outside world and the no-storage ceiling;
each run on a file system of its own (`--filesystem fresh-ext4`, the default: a new ext4 with
mkfs.ext4's defaults, journal included, on a loop device), where both systems keep their
queues and mailboxes; and measures, with the same load generators for both systems:
  * SMTP acceptance: Postfix's smtp-source (messages/s, MB/s), 2 KB / 50 KB, 1 / 10 recipients,
    1 / 10 / 50 connections; bench/smtp-load at the same points for p50/p99 latency per
    message; smtp-source against smtp-sink alone as the ceiling;
  * outbound: every message held by the acceptance phase released at once and delivered to the
    smtp-sink (messages/s from the release to the empty queue);
  * steady flow: messages accepted (smtp-source, 2 KB, 1 and 10 connections) while each is
    delivered to the smtp-sink as soon as it is queued, both systems without their hold
    (messages/s from the first connection to the empty queue, CPU per message);
  * POP3: logins/s (1 and 20 clients), RETR MB/s (2 KB and 50 KB, 1 and 20 clients) with
    bench/pop3/load.py;
  * DKIM signing: the outbound figure again on a fresh held queue (2 KB messages) with smtpfeed-out
    signing none, rsa-sha256 (2048 bits) or ed25519-sha256 (keys from `mailstack dkim keygen`),
    and bench/dkim-bench's CPU cost per message of signing and verifying, in one process;
  * relay-policy RCPT decisions/s over its socket (bench/ipc-bench; no peer: Postfix makes the
    same decision inside smtpd);
  * memory: PSS of every process of each system (mailstack's six services; Postfix's master and
    children + Dovecot's), at rest after start and the peak sampled under load.
Writes runs.json (every figure), results.md (medians of the runs, ratios) and results.png.
"""
import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USERS = 20
PASSWORD = "benchpass"


def log(text):
    print(text, flush=True)


FILESYSTEMS = ("fresh-ext4", "host")
FILESYSTEM_HELP = ("where the systems keep their queues and mailboxes: a new ext4 made for the run (mkfs.ext4's "
                   "defaults: journal, data=ordered) on a loop device, or a folder of this machine's file system")


def finish_on_sigterm():
    """SIGTERM (a `kill` of the run) ends it as an exception does, through every `finally`: the
    systems stopped, the run's file system unmounted and removed. (By default Python dies at
    once, leaving a Postfix running in a mounted file system nothing unmounts.) A second SIGTERM
    is ignored: `pkill -f` reaches `timeout` too, which passes its own on, and a second exit
    raised inside a `finally` skipped the stops after it (a Postfix was left running)."""
    def finish(*_):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sys.exit(143)
    signal.signal(signal.SIGTERM, finish)


@contextlib.contextmanager
def scratch(prefix, filesystem="fresh-ext4"):
    """A folder for one run, removed after it. On `fresh-ext4`, a file system of its own, as a
    spool disk is: what the machine's file system did in the minutes before (this one has no
    journal, and there ext4 passes over every inode freed in the last one to five minutes before
    it allocates one: each run frees tens of thousands) then costs neither system anything.
    Where no loop device can be mounted, says so and uses the folder (`filesystem_of` tells)."""
    work = tempfile.mkdtemp(prefix=prefix, dir="/var/tmp")
    image = f"{work}.ext4" if filesystem == "fresh-ext4" else None
    try:
        if image:
            try:
                run(["truncate", "-s", "16G", image])
                run(["mkfs.ext4", "-q", "-F", image])
                run(["mount", "-o", "loop", image, work])
            except RuntimeError as error:
                print(f"no file system of its own for this run, the machine's used instead: {error}", file=sys.stderr)
        os.chmod(work, 0o755)
        yield work
    finally:
        if image:
            if os.path.ismount(work):
                subprocess.run(["umount", work], check=False)
            if os.path.exists(image):
                os.unlink(image)
        shutil.rmtree(work, ignore_errors=True)


def filesystem_of(work):
    """What `scratch` gave: its own ext4 with a journal, or a folder of the machine's file system."""
    if os.path.ismount(work):
        return "a new ext4 for each run (journal, data=ordered) on a loop device"
    return "a folder of the machine's file system"


def write_passwd(work):
    """The benchmark users u1..u20 with PASSWORD (SHA512-CRYPT), in work/passwd; its path."""
    hashed = run(["openssl", "passwd", "-6", "-salt", "benchsalt", PASSWORD]).strip()
    passwd = f"{work}/passwd"
    with open(passwd, "w") as f:
        f.writelines(f"u{i}:{{SHA512-CRYPT}}{hashed}\n" for i in range(1, USERS + 1))
    os.chmod(passwd, 0o644)
    return passwd


def run(argv, **kw):
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, **kw)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stdout[-1000:]} {done.stderr[-2000:]}")
    return done.stdout


# ---------------------------------------------------------------- memory

def children():
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                table.setdefault(ppid, []).append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return table


def tree(roots):
    table, seen, todo = children(), set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo.extend(table.get(pid, []))
    return seen


def pss_mb(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total / 1024


class Sampler(threading.Thread):
    """Peak PSS of each system's process tree, sampled every `interval` seconds."""

    def __init__(self, systems, interval):
        super().__init__(daemon=True)
        self.systems, self.interval = systems, interval
        self.peak = {name: 0.0 for name in systems}
        self.stopped = threading.Event()

    def sample(self):
        now = {name: pss_mb(tree(roots())) for name, roots in self.systems.items()}
        for name, value in now.items():
            self.peak[name] = max(self.peak[name], value)
        return now

    def run(self):
        while not self.stopped.wait(self.interval):
            self.sample()


# ---------------------------------------------------------------- the systems

def cpu_seconds(pids, children=False, kernel_only=False):
    """User + system CPU of `pids` (system only with `kernel_only`), and with `children` that of
    their children already waited for (Postfix's master reaps smtpd and cleanup processes)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (0 if kernel_only else int(fields[11])) + int(fields[12])
            if children:
                total += (0 if kernel_only else int(fields[13])) + int(fields[14])
        except (FileNotFoundError, ProcessLookupError):  # the process ended meanwhile
            pass
    return total / os.sysconf("SC_CLK_TCK")


def descendants(root):
    """root and every process below it."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError):
                pass
    found = [root]
    for pid in found:
        found += [child for child, parent in parents.items() if parent == pid]
    return found


def free_port_base(count=5):
    """`count` consecutive free ports below the ephemeral range (so no client connection of the
    load generators can hold one of them when a server binds it)."""
    import random
    import socket
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    for _ in range(100):
        base = random.randint(20000, low - count - 1)
        try:
            for port in range(base, base + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free ports")


def wait_port(port, timeout=20):
    import socket
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def fill_maildirs(root, count, size, owner=None):
    line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\n"
    shutil.rmtree(root, ignore_errors=True)
    for u in range(1, USERS + 1):
        box = f"{root}/u{u}"
        for d in ("tmp", "new", "cur"):
            os.makedirs(f"{box}/{d}", exist_ok=True)
        for n in range(count):
            head = f"From: bench@example.test\nTo: u{u}@domain1.com\nSubject: message {n}\nMessage-ID: <{u}.{n}@example.test>\n\n".encode()
            body = (line * (size // len(line) + 1))[: max(0, size - len(head))]
            with open(f"{box}/cur/{1700000000 + n}.M{n}P1.bench:2,", "wb") as f:
                f.write(head + body)
    if owner:
        subprocess.run(["chown", "-R", owner, root], check=True)


class Mailstack:
    # deploy/services: the services in start order, the one list every script uses.
    services = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy", "services")).read().split()

    def __init__(self, binaries, work, smtp, pop3, sink):
        self.bin, self.dir, self.smtp, self.pop3, self.sink = binaries, f"{work}/mailstack", smtp, pop3, sink
        self.processes = {}
        # The services are roles of the mailstack executable, started by their names (as
        # scripts/link-services.sh and the package make the links).
        for name in self.services:
            link = os.path.join(binaries, name)
            if os.path.realpath(link) != os.path.realpath(os.path.join(binaries, "mailstack")):
                if os.path.lexists(link):
                    os.remove(link)
                os.symlink("mailstack", link)

    def args(self):
        d = self.dir
        settings = [
            f"ipc.directory={d}", f"maps.access={d}/access.db", f"maps.virtusertable={d}/virtusertable.db",
            f"maps.mailertable={d}/mailertable.db", f"maps.virtuser_domains={d}/virtuser-domains",
            f"pop3.passwd_file={d}/passwd", f"drac.database={d}/drac.db", f"queue.directory={d}/spool",
            f"queue.maildir_root={d}/maildirs", "queue.delivery_mode=queueonly", "queue.min_age=1h",
            "queue.warn_after=2h", "queue.return_after=1d", f"smtp.listen=127.0.0.1:{self.smtp}",
            "smtp.max_connections_per_client=100", f"pop3.listen=127.0.0.1:{self.pop3}",
            "pop3.max_sessions_per_address=100", f"outbound.smart_host=[127.0.0.1]:{self.sink}",
            "dns.servers=127.0.0.1:9", "log.level=notice",
        ]
        return [a for s in settings for a in ("--set", s)]

    def start(self, passwd):
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        for name in ("access", "virtusertable", "mailertable"):
            with open(f"{ROOT}/etc/mail/{name}", "rb") as source:
                subprocess.run([f"{self.bin}/mailstack", "makemap", "hash", f"{self.dir}/{name}"], stdin=source, check=True)
        shutil.copy(f"{ROOT}/etc/mail/virtuser-domains", self.dir)
        shutil.copy(passwd, f"{self.dir}/passwd")
        for service in self.services:
            logfile = open(f"{self.dir}/{service}.log", "w")
            process = subprocess.Popen([f"{self.bin}/{service}"] + self.args(), stderr=logfile, stdout=subprocess.DEVNULL)
            self.processes[service] = process
            deadline = time.time() + 30
            while f"{service} ready" not in open(f"{self.dir}/{service}.log").read():
                if process.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"{service} did not start: " + open(f"{self.dir}/{service}.log").read())
                time.sleep(0.05)

    def pids(self):
        return [p.pid for p in self.processes.values()]

    def held(self):
        return len([n for n in os.listdir(f"{self.dir}/spool/msg") if not n.startswith(".")])  # not the blanks made ahead

    def release(self):
        run([f"{self.bin}/mailstack", "flush", "--set", f"ipc.directory={self.dir}"])

    def restart(self, service, extra):
        """Restarts one service with further settings (`section.key=value`)."""
        process = self.processes[service]
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        logfile = open(f"{self.dir}/{service}.log", "w")
        args = self.args() + [a for s in extra for a in ("--set", s)]
        self.processes[service] = subprocess.Popen([f"{self.bin}/{service}"] + args, stderr=logfile, stdout=subprocess.DEVNULL)
        deadline = time.time() + 30
        while f"{service} ready" not in open(f"{self.dir}/{service}.log").read():
            if self.processes[service].poll() is not None or time.time() > deadline:
                raise RuntimeError(f"{service} did not start: " + open(f"{self.dir}/{service}.log").read())
            time.sleep(0.05)

    def stop(self):
        for process in reversed(list(self.processes.values())):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


class Postfix:
    def __init__(self, work, port, sink):
        self.dir, self.port, self.sink = f"{work}/postfix", port, sink

    def start(self):
        run(["bench/postfix/start.sh", self.dir, str(self.port), f"[127.0.0.1]:{self.sink}"])
        wait_port(self.port)
        self.version = run(["bench/postfix/postfix-cmd", self.dir, "postconf", "-h", "mail_version"]).strip() or "3"

    def pids(self):
        try:
            with open(f"{self.dir}/spool/pid/master.pid") as f:
                return [int(f.read().strip())]
        except (OSError, ValueError):
            return []

    def held(self):
        return sum(len(files) for queue in ("hold", "incoming", "active", "deferred", "maildrop")
                   for _, _, files in os.walk(f"{self.dir}/spool/{queue}"))

    def release(self):
        run(["bench/postfix/postfix-cmd", self.dir, "postsuper", "-H", "ALL"])
        run(["bench/postfix/postfix-cmd", self.dir, "postqueue", "-f"])

    def hold(self, on):
        """Every message held after its acceptance (as started), or delivered at once (`on`
        False). Returns once every smtpd started before the reload has ended (the master starts
        new ones with the new setting)."""
        def smtpds():
            found = set()
            for pid in descendants(self.pids()[0])[1:]:
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        if f.read().strip() == "smtpd":
                            found.add(pid)
                except (FileNotFoundError, ProcessLookupError):  # the process ended meanwhile
                    pass
            return found
        old = smtpds()
        run(["bench/postfix/postfix-cmd", self.dir, "postconf", "-e",
             "smtpd_client_restrictions=" + ("check_client_access static:HOLD" if on else "")])
        run(["bench/postfix/postfix-cmd", self.dir, "postfix", "reload"])
        deadline = time.time() + 30
        while old & smtpds():
            if time.time() > deadline:
                raise RuntimeError("Postfix: smtpd processes of before the reload still running after 30 s")
            time.sleep(0.05)

    def stop(self):
        subprocess.run(["bench/postfix/stop.sh", self.dir], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Dovecot:
    """Stock Dovecot (a new login and pop3 process per connection, no auth cache), or with
    `tuned` its documented high-performance configuration: login processes reused
    (service_count = 0), pop3 processes serving many sessions (service_count = 1000), both
    kept warm (process_min_avail = cores), and the auth cache on."""

    def __init__(self, work, port, passwd, tuned=False):
        self.dir, self.port, self.passwd, self.tuned = f"{work}/dovecot{'-tuned' if tuned else ''}", port, passwd, tuned

    def start(self):
        os.makedirs(f"{self.dir}/state", exist_ok=True)
        os.chmod(self.dir, 0o755)
        with open(f"{self.dir}/dovecot.conf", "w") as f:
            f.write(f"""base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:{self.dir}/mail/%u
first_valid_uid = 1
pop3_uidl_format = %f
passdb {{
  driver = passwd-file
  args = scheme=CRYPT username_format=%u {self.passwd}
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={self.dir}/mail/%u
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {self.port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
}}
""" + (f"""auth_cache_size = 10M
auth_cache_ttl = 1 hour
service pop3-login {{
  service_count = 0
  process_min_avail = {os.cpu_count()}
}}
service pop3 {{
  service_count = 1000
  process_min_avail = {os.cpu_count()}
}}
""" if self.tuned else ""))
        self.process = subprocess.Popen(["dovecot", "-F", "-c", f"{self.dir}/dovecot.conf"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        self.version = run(["dovecot", "--version"]).split()[0]

    def pids(self):
        return [self.process.pid]

    def stop(self):
        if not hasattr(self, "process"):
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Sink:
    def __init__(self, port):
        self.port = port
        self.process = subprocess.Popen([f"{ROOT}/scripts/postfix-tool", "smtp-sink", "-u", "nobody", f"127.0.0.1:{port}", "1000"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        wait_port(port)

    def stop(self):
        self.process.terminate()
        self.process.wait()


# ---------------------------------------------------------------- load

def drain(server, what):
    """Releases `server`'s held queue and waits until it is empty; the seconds that took."""
    start = time.time()
    server.release()
    while server.held() > 0:
        if time.time() - start > 600:
            raise RuntimeError(f"{what}: {server.held()} messages still queued after 10 minutes")
        time.sleep(0.05)
    return time.time() - start


def smtp_source(port, conns, n, size, rcpts):
    start = time.time()
    run(["scripts/postfix-tool", "smtp-source", "-s", str(conns), "-m", str(n), "-l", str(size), "-r", str(rcpts),
         "-f", "load@client.test", "-t", "rcpt@remote.test", "-M", "client.test", f"127.0.0.1:{port}"])
    return n / (time.time() - start)


def smtp_load(binaries, port, conns, n, size, rcpts):
    out = run([f"{binaries}/smtp-load", "--port", str(port), "--connections", str(conns), "--messages", str(n),
               "--size", str(size), "--recipients", str(rcpts)])
    m = re.search(r"([\d.]+) msg/s .* p50 ([\d.]+) ms\s+p99 ([\d.]+) ms\s+failed (\d+)", out)
    if not m or int(m.group(4)) != 0:
        raise RuntimeError(f"smtp-load: {out}")
    return float(m.group(1)), float(m.group(2)), float(m.group(3))


def pop3_load(mode, port, clients, amount):
    out = run([sys.executable, "bench/pop3/load.py", mode, str(port), str(clients), str(amount)])
    return json.loads(out)


def policy_decisions(binaries, socket_path, requests):
    out = run([f"{binaries}/ipc-bench", "--socket", socket_path, "--service", "relay-policy",
               "--policy-rcpt", "you@domain1.com", "--requests", str(requests)])
    # Lines like "pipelined (64 in flight)    41600 req/s  (24.0 µs each)": the best of them.
    rates = [float(m.group(1)) for m in re.finditer(r"\s([\d.]+) req/s\s+\(", out)]
    if not rates:
        raise RuntimeError(f"ipc-bench: {out}")
    return max(rates)


def dkim_signing(args, ours, work, record):
    """The outbound figure with smtpfeed-out signing each message (From: <load@client.test>) or
    not, on the same fresh held queue of 2 KB messages; then dkim-bench's cost per message."""
    log("  outbound with DKIM signing")
    keys = {}
    for algorithm in ("rsa", "ed25519"):
        run([f"{args.bin}/mailstack", "dkim", "keygen", "client.test", algorithm, "--algorithm", algorithm, "--directory", work])
        keys[algorithm] = f"dkim.keys=client.test={algorithm}:{work}/client.test.{algorithm}.key"
    n = args.messages * 5
    for mode, extra in (("unsigned", []), ("rsa-sha256", [keys["rsa"]]), ("ed25519-sha256", [keys["ed25519"]])):
        ours.restart("smtpfeed-out", extra)
        # One message first, so the queue has found the restarted smtpfeed-out before the clock runs.
        smtp_source(ours.smtp, 1, 1, 2048, 1)
        ours.release()
        deadline = time.time() + 120
        while ours.held() > 0 and time.time() < deadline:
            time.sleep(0.05)
        smtp_source(ours.smtp, 10, n, 2048, 1)
        while ours.held() < n:
            time.sleep(0.05)
        rate = n / drain(ours, f"dkim {mode}")
        record("dkim", f"outbound, {n} held 2 KB messages, signing: {mode}", "msg/s", "mailstack", rate, "msg/s")
        log(f"    {mode}: {rate:.0f} msg/s")
    ours.restart("smtpfeed-out", [])
    out = run([f"{args.bin}/dkim-bench", str(args.dkim_iterations)])
    for m in re.finditer(r"^(sign|verify) (\S+) (\d+) KB\s+([\d.]+) µs/msg", out, re.M):
        record("dkim", f"{m.group(1)} {m.group(2)}, {m.group(3)} KB (dkim-bench, one core)", "µs/msg", "mailstack", float(m.group(4)), "µs")


# ---------------------------------------------------------------- one run

POINTS = [(size, rcpts, conns) for size in (2048, 51200) for rcpts in (1, 10) for conns in (1, 10, 50)]


def steady_flow(args, number, ours, postfix, record):
    """A host in use: every message delivered to the smtp-sink as soon as it is queued
    (mailstack's queue in background mode, Postfix without its hold), while smtp-source sends
    the next ones. msg/s from the first connection to the empty queue, and the CPU each system
    spent per message (mailstack: its seven processes; Postfix: its master and every process
    below it, those it reaped included). The two take turns first from one run to the next: each
    leaves the file system with the inodes its messages freed."""
    ours.restart("queue", ["queue.delivery_mode=background"])
    postfix.hold(False)
    systems = [("mailstack", ours, ours.smtp, ours.pids, False),
               ("peer", postfix, postfix.port, lambda: descendants(postfix.pids()[0]), True)]
    if number % 2 == 0:
        systems.reverse()
    try:
        for conns in (1, 10):
            n = args.messages * (1 if conns == 1 else 5)
            point = f"2 KB, 1 rcpt, {conns} conn"
            measured = []
            for system, server, port, pids, reaped in systems:
                before = cpu_seconds(pids(), reaped)
                start = time.time()
                smtp_source(port, conns, n, 2048, 1)
                while server.held() > 0:
                    if time.time() - start > 600:
                        raise RuntimeError(f"flow: {system}: {server.held()} messages still queued after 10 minutes")
                    time.sleep(0.02)
                elapsed = time.time() - start
                spent = (cpu_seconds(pids(), reaped) - before) / n * 1e6
                record("flow", point, "msg/s", system, n / elapsed, "msg/s")
                record("flow", point, "CPU µs/msg", system, spent, "µs/msg")
                measured.append(f"{system} {n / elapsed:.0f} msg/s, {spent:.0f} µs/msg")
            log(f"  flow {point}: " + "; ".join(measured))
    finally:
        ours.restart("queue", [])
        postfix.hold(True)


def wanted(args, area):
    """Whether this run measures `area` (--areas; all by default)."""
    return not args.areas or area in args.areas.split(",")


def one_run(args, number, work):
    figures = []

    def record(area, point, metric, system, value, unit):
        figures.append({"run": number, "area": area, "point": point, "metric": metric, "system": system,
                        "value": round(value, 3), "unit": unit})

    base = free_port_base()
    ports = {"mailstack-smtp": base, "mailstack-pop3": base + 1, "postfix": base + 2, "dovecot": base + 3, "sink": base + 4,
             "dovecot-tuned": base + 5}
    passwd = write_passwd(work)

    sink = Sink(ports["sink"])
    ours = Mailstack(args.bin, work, ports["mailstack-smtp"], ports["mailstack-pop3"], ports["sink"])
    postfix = Postfix(work, ports["postfix"], ports["sink"])
    dovecot = Dovecot(work, ports["dovecot"], passwd)
    tuned = Dovecot(work, ports["dovecot-tuned"], passwd, tuned=True)
    try:
        ours.start(passwd)
        postfix.start()
        dovecot.start()
        tuned.start()  # not in the memory figures: the peer there is stock Postfix + Dovecot
        sampler = Sampler({"mailstack": ours.pids, "Postfix + Dovecot": lambda: postfix.pids() + dovecot.pids()}, 0.5)
        time.sleep(1)
        rest = sampler.sample()
        record("memory", "at rest", "PSS MB", "mailstack", rest["mailstack"], "MB")
        record("memory", "at rest", "PSS MB", "peer", rest["Postfix + Dovecot"], "MB")
        sampler.start()

        log(f"run {number}: SMTP acceptance")
        for size, rcpts, conns in POINTS if wanted(args, "smtp") else []:
            n = (args.messages if conns == 1 else args.messages * 5)
            if size > 10000:
                n //= 2
            point = f"{size // 1024} KB, {rcpts} rcpt, {conns} conn"
            if args.points and not any(p.strip() == point for p in args.points.split(";")):
                continue
            for system, port in (("mailstack", ours.smtp), ("peer", postfix.port), ("ceiling", sink.port)):
                rate = smtp_source(port, conns, n, size, rcpts)
                record("smtp", point, "msg/s", system, rate, "msg/s")
                record("smtp", point, "MB/s", system, rate * size / 1e6, "MB/s")
            for system, port in (("mailstack", ours.smtp), ("peer", postfix.port)):
                kept, p50, p99 = smtp_load(args.bin, port, conns, n, size, rcpts)
                record("smtp", point, "msg/s kept", system, kept, "msg/s")
                record("smtp", point, "p50 ms", system, p50, "ms")
                record("smtp", point, "p99 ms", system, p99, "ms")
            log(f"  {point}: " + ", ".join(f"{f['system']} {f['value']:.0f}" for f in figures if f["point"] == point and f["metric"] == "msg/s"))

        log(f"run {number}: outbound delivery of the held queue to smtp-sink")
        for system, server in (("mailstack", ours), ("peer", postfix)) if wanted(args, "outbound") else ():
            held = server.held()
            elapsed = drain(server, system)
            record("outbound", f"{held} held messages (mixed sizes)", "msg/s", system, held / elapsed, "msg/s")
            log(f"  {system}: {held} in {elapsed:.1f} s")

        if wanted(args, "dkim"):
            dkim_signing(args, ours, work, record)

        if wanted(args, "flow"):
            log(f"run {number}: steady flow (accepted and delivered)")
            steady_flow(args, number, ours, postfix, record)

        log(f"run {number}: POP3")
        for size, count in ((2048, args.pop3_messages), (51200, max(1, args.pop3_messages // 5))) if wanted(args, "pop3") else ():
            fill_maildirs(f"{ours.dir}/maildirs", count, size)
            fill_maildirs(f"{dovecot.dir}/mail", count, size, owner="nobody:nogroup")
            fill_maildirs(f"{tuned.dir}/mail", count, size, owner="nobody:nogroup")
            os.sync()  # written out now, not by write-back threads while the first system is measured
            # mailstack once per point, recorded against both peers (area pop3: stock Dovecot,
            # pop3-tuned: Dovecot's high-performance configuration).
            systems = (("mailstack", ours.pop3, ("pop3", "pop3-tuned")), ("peer", dovecot.port, ("pop3",)),
                       ("peer", tuned.port, ("pop3-tuned",)))
            for clients in (1, 20):
                plural = "s" if clients > 1 else ""
                for test in (("logins", "retr") if size == 2048 else ("retr",)):
                    point = f"logins, {clients} client{plural}" if test == "logins" else f"RETR {size // 1024} KB, {clients} client{plural}"
                    for system, port, areas in systems:
                        # The same octets at 1 client as at 20 (one client's mailbox, 20 times the
                        # rounds): one client's 3 rounds of 50 KB took about 50 ms, noise more than a figure.
                        result = pop3_load(test, port, clients, args.login_seconds if test == "logins" else args.retr_rounds * (20 // clients))
                        value, metric = (result["logins_per_s"], "logins/s") if test == "logins" else (result["mb_per_s"], "MB/s")
                        for area in areas:
                            record(area, point, metric, system, value, metric)

        log(f"run {number}: relay-policy decisions")
        if wanted(args, "policy"):
            rate = policy_decisions(args.bin, f"{ours.dir}/relay-policy.sock", args.policy_requests)
            record("policy", "RCPT decisions over the socket", "decisions/s", "mailstack", rate, "decisions/s")

        sampler.stopped.set()
        sampler.join()
        sampler.sample()
        record("memory", "peak under load", "PSS MB", "mailstack", sampler.peak["mailstack"], "MB")
        record("memory", "peak under load", "PSS MB", "peer", sampler.peak["Postfix + Dovecot"], "MB")
        versions = {"postfix": postfix.version, "dovecot": dovecot.version}
    finally:
        for stop in (ours.stop, postfix.stop, dovecot.stop, tuned.stop, sink.stop):
            try:
                stop()
            except Exception as error:  # keep stopping the others
                log(f"stop: {error}")
    return figures, versions


# ---------------------------------------------------------------- report

def medians(figures):
    groups = {}
    for f in figures:
        groups.setdefault((f["area"], f["point"], f["metric"], f["system"]), []).append(f["value"])
    return {key: statistics.median(values) for key, values in groups.items()}


def report(figures, meta, out):
    m = medians(figures)
    rows, seen = [], set()
    for f in figures:
        key = (f["area"], f["point"], f["metric"])
        if key in seen or f["metric"] in ("p50 ms", "p99 ms", "MB/s", "msg/s kept") and f["area"] == "smtp":
            continue
        seen.add(key)
        ours, peer = m.get(key + ("mailstack",)), m.get(key + ("peer",))
        lower_is_better = f["metric"] in ("PSS MB", "CPU µs/msg")
        ratio = None
        if ours and peer:
            ratio = peer / ours if lower_is_better else ours / peer
        row = {"area": f["area"], "point": f["point"], "metric": f["metric"], "mailstack": ours, "peer": peer, "ratio": ratio}
        if f["area"] == "smtp":
            row["ceiling"] = m.get(key + ("ceiling",))
            for system in ("mailstack", "peer"):
                row[f"{system} MB/s"] = m.get((f["area"], f["point"], "MB/s", system))
                row[f"{system} p50"] = m.get((f["area"], f["point"], "p50 ms", system))
                row[f"{system} p99"] = m.get((f["area"], f["point"], "p99 ms", system))
                row[f"{system} kept"] = m.get((f["area"], f["point"], "msg/s kept", system))
        rows.append(row)

    peers = {"smtp": f"Postfix {meta['versions'].get('postfix', '')} (hold)", "outbound": f"Postfix {meta['versions'].get('postfix', '')}",
             "flow": f"Postfix {meta['versions'].get('postfix', '')} (delivering)",
             "pop3": f"Dovecot {meta['versions'].get('dovecot', '')}",
             "pop3-tuned": f"Dovecot {meta['versions'].get('dovecot', '')}, high-performance (processes reused, auth cache)",
             "policy": "(none)", "dkim": "(none)", "memory": "Postfix + Dovecot"}
    fmt = lambda v, d=0: "–" if v is None else f"{v:,.{d}f}"
    lines = [
        f"# mailstack vs Postfix and Dovecot — {meta['date']}",
        "",
        f"{meta['machine']}; {meta['runs']} run(s), medians; ratio = mailstack / peer for speed, peer / mailstack for "
        "memory (≥ 1.00: mailstack as good or better). Loopback only. Queues and mailboxes on "
        f"{meta.get('filesystem', 'the machine file system')}. `bench/run.sh` made this file.",
        "",
        "## SMTP acceptance",
        "",
        "Durable: 250 only once the message is on disk (mailstack's queue in queueonly, Postfix's hold queue). "
        "msg/s, MB/s and the ratio: Postfix's smtp-source (a new connection per message, no pipelining). "
        "Latency per message and the kept-connection rate: bench/smtp-load (connections kept, PIPELINING).",
        "",
        "| point | mailstack msg/s | Postfix msg/s | ratio | MB/s mailstack / Postfix | p50 ms mailstack / Postfix | "
        "p99 ms mailstack / Postfix | kept connections msg/s mailstack / Postfix | smtp-sink ceiling msg/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["area"] == "smtp":
            lines.append(f"| {r['point']} | {fmt(r['mailstack'])} | {fmt(r['peer'])} | {fmt(r['ratio'], 2)} | "
                         f"{fmt(r['mailstack MB/s'], 1)} / {fmt(r['peer MB/s'], 1)} | {fmt(r['mailstack p50'], 2)} / {fmt(r['peer p50'], 2)} | "
                         f"{fmt(r['mailstack p99'], 2)} / {fmt(r['peer p99'], 2)} | {fmt(r['mailstack kept'])} / {fmt(r['peer kept'])} | "
                         f"{fmt(r['ceiling'])} |")
    order = ["outbound", "flow", "dkim", "pop3", "pop3-tuned", "policy", "memory"]
    rows = [r for r in rows if r["area"] == "smtp"] + sorted((r for r in rows if r["area"] != "smtp"), key=lambda r: order.index(r["area"]))
    lines += ["", "## Outbound, POP3, relay-policy, memory", "",
              "| area | point | metric | mailstack | peer | peer is | ratio |", "|---|---|---|---:|---:|---|---:|"]
    for r in rows:
        if r["area"] != "smtp":
            digits = 1 if r["metric"] in ("MB/s", "PSS MB", "µs/msg") else 0
            lines.append(f"| {r['area']} | {r['point']} | {r['metric']} | {fmt(r['mailstack'], digits)} | {fmt(r['peer'], digits)} | "
                         f"{peers[r['area']]} | {fmt(r['ratio'], 2)} |")
    with open(f"{out}/results.md", "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(f"{out}/runs.json", "w") as f:
        json.dump({"meta": meta, "figures": figures}, f, indent=1)
    plot(rows, meta, out)
    return rows


def plot(rows, meta, out):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing: no plot")
        return
    smtp = [r for r in rows if r["area"] == "smtp"]
    others = [r for r in rows if r["area"] != "smtp" and r["ratio"] is not None]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(13, 10), gridspec_kw={"height_ratios": [1.1, 1]})
    x = range(len(smtp))
    width = 0.28
    top.bar([i - width for i in x], [r["mailstack"] or 0 for r in smtp], width, label="mailstack", color="#2b6cb0")
    top.bar(list(x), [r["peer"] or 0 for r in smtp], width, label="Postfix (hold)", color="#c05621")
    top.bar([i + width for i in x], [r["ceiling"] or 0 for r in smtp], width, label="smtp-sink (no storage)", color="#a0aec0")
    top.set_yscale("log")
    top.set_ylabel("messages/s (smtp-source, log scale)")
    top.set_xticks(list(x))
    top.set_xticklabels([r["point"].replace(", ", "\n") for r in smtp], fontsize=8)
    top.set_title(f"SMTP durable acceptance — medians of {meta['runs']} run(s), {meta['date']}")
    top.legend()
    labels = [f"{r['area']}: {r['point']}" + (" (memory)" if r["metric"] == "PSS MB" else "") for r in others]
    all_rows = smtp + others
    ratios = [r["ratio"] for r in all_rows]
    names = [f"SMTP {r['point']}" for r in smtp] + labels
    colors = ["#2f855a" if v >= 1 else "#c53030" for v in ratios]
    bottom.barh(range(len(ratios)), ratios, color=colors)
    bottom.axvline(1.0, color="black", linewidth=1)
    bottom.axvline(1.5, color="gray", linewidth=0.8, linestyle="--")
    bottom.set_yticks(range(len(ratios)))
    bottom.set_yticklabels(names, fontsize=7)
    bottom.invert_yaxis()
    bottom.set_xlabel("ratio (mailstack / peer; memory: peer / mailstack) — right of 1.0 is better")
    fig.tight_layout()
    fig.savefig(f"{out}/results.png", dpi=90)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", required=True, help="folder of the built binaries")
    parser.add_argument("--out", required=True, help="where results.md, runs.json and results.png go")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=300, help="SMTP messages per point at 1 connection (x5 at 10 and 50)")
    parser.add_argument("--pop3-messages", type=int, default=200, help="2 KB messages per POP3 user (50 KB: a fifth)")
    parser.add_argument("--login-seconds", type=float, default=5)
    parser.add_argument("--retr-rounds", type=int, default=3)
    parser.add_argument("--policy-requests", type=int, default=50000)
    parser.add_argument("--dkim-iterations", type=int, default=2000, help="dkim-bench signatures and verifications per case")
    parser.add_argument("--areas", default="", help="only these areas, comma-separated: smtp,outbound,flow,dkim,pop3,policy "
                        "(a partial run for an A/B; not for bench/results/latest)")
    parser.add_argument("--points", default="", help="only these SMTP points, ';'-separated, as labelled: '2 KB, 1 rcpt, 1 conn'")
    parser.add_argument("--filesystem", choices=FILESYSTEMS, default="fresh-ext4", help=FILESYSTEM_HELP)
    args = parser.parse_args()
    finish_on_sigterm()
    os.makedirs(args.out, exist_ok=True)
    figures, versions, filesystems = [], {}, set()
    for number in range(1, args.runs + 1):
        with scratch("mailstack-bench.", args.filesystem) as work:
            filesystems.add(filesystem_of(work))
            more, versions = one_run(args, number, work)
            figures += more
    machine = f"{os.cpu_count()} cores, {round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB"
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs": args.runs, "machine": machine,
            "versions": versions, "settings": vars(args), "filesystem": " / ".join(sorted(filesystems))}
    rows = report(figures, meta, args.out)
    with open(f"{args.out}/results.md") as f:
        print(f.read())
    missing = [r for r in rows if r["mailstack"] is None]
    if missing:
        sys.exit(f"no figure for {missing}")


if __name__ == "__main__":
    main()
