#!/usr/bin/env bash
# POP3 benchmark: mailstack's pop3 (with drac-registry, as deployed) against Dovecot's POP3 on
# the same machine, same users, same password hashes, same mailboxes, same load client
# (load.py, one process per client). Logins per second with 1 and 20 clients, and RETR MB/s
# of 2 KB and 50 KB messages with 1 and 20 clients. Everything on loopback high ports.
#
# usage: bench/pop3/run.sh [SECONDS_PER_LOGIN_RUN] [RETR_ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-5}
rounds=${2:-3}
users=20
work=$(mktemp -d /tmp/mailstack-bench-pop3.XXXXXX)
chmod 755 "$work" # dovecot's auth and mail processes run as their own users
trap 'kill $(jobs -p) 2>/dev/null || true; sleep 0.5; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

command -v dovecot >/dev/null || { apt-get update -qq; apt-get install -y -qq dovecot-pop3d >/dev/null; }
scripts/install-deps.sh
swift build -c release --product pop3 >/dev/null
swift build -c release --product drac-registry >/dev/null
bin=$(swift build -c release --show-bin-path)

hash=$(openssl passwd -6 -salt benchsalt benchpass)
for i in $(seq 1 $users); do echo "u$i:{SHA512-CRYPT}$hash"; done > "$work/passwd"
chmod 644 "$work/passwd"

# Mailboxes: COUNT messages of SIZE octets for every user, one copy per server.
fill() { # root count size
    python3 - "$@" <<'PY'
import os, sys
root, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\n"
for u in range(1, int(os.environ["USERS"]) + 1):
    box = f"{root}/u{u}"
    for d in ("tmp", "new", "cur"):
        os.makedirs(f"{box}/{d}", exist_ok=True)
    for n in range(count):
        head = f"From: bench@example.test\nTo: u{u}@domain1.com\nSubject: message {n}\nMessage-ID: <{u}.{n}@example.test>\n\n".encode()
        body = (line * (size // len(line) + 1))[: max(0, size - len(head))]
        with open(f"{box}/cur/{1700000000 + n}.M{n}P1.bench:2,", "wb") as f:
            f.write(head + body)
PY
}
export USERS=$users

cat > "$work/dovecot.conf" <<CONF
base_dir = $work/dovecot-run
state_dir = $work/dovecot-state
log_path = $work/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:$work/dovecot-mail/%u
first_valid_uid = 1
pop3_uidl_format = %f
passdb {
  driver = passwd-file
  args = scheme=CRYPT username_format=%u $work/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$work/dovecot-mail/%u
}
service pop3-login {
  inet_listener pop3 {
    port = 21110
  }
  inet_listener pop3s {
    port = 0
  }
}
service imap-login {
  inet_listener imap {
    port = 0
  }
}
CONF

start_servers() {
    "$bin/drac-registry" --set ipc.directory="$work/run" --set drac.database="$work/drac.db" --set log.level=error 2>>"$work/mailstack.log" &
    "$bin/pop3" --set ipc.directory="$work/run" --set pop3.listen=127.0.0.1:21111 --set pop3.passwd_file="$work/passwd" \
        --set queue.maildir_root="$work/ours-mail" --set pop3.max_sessions_per_address=100 --set log.level=error 2>>"$work/mailstack.log" &
    mkdir -p "$work/dovecot-state"
    dovecot -F -c "$work/dovecot.conf" &
    sleep 1.5
}
stop_servers() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; }

rss() { # total RSS in MB of processes matching a pattern
    ps -eo rss,args | awk -v pat="$1" '$0 ~ pat && $0 !~ /awk/ {s+=$1} END {printf "%.1f", s/1024}'
}

results="$work/results.txt"
run() { # label port mode clients amount
    local out
    out=$(python3 bench/pop3/load.py "$3" "$2" "$4" "$5")
    echo "$1 $3 clients=$4 $out" | tee -a "$results"
}

for size in 2048 51200; do
    count=$(( size == 2048 ? 200 : 40 ))
    rm -rf "$work/ours-mail" "$work/dovecot-mail"
    fill "$work/ours-mail" $count $size
    fill "$work/dovecot-mail" $count $size
    chown -R nobody:nogroup "$work/dovecot-mail"
    start_servers
    if [ $size = 2048 ]; then
        for c in 1 20; do
            run mailstack 21111 logins $c "$seconds"
            run dovecot 21110 logins $c "$seconds"
        done
    fi
    for c in 1 20; do
        run "mailstack size=$size" 21111 retr $c "$rounds"
        run "dovecot size=$size" 21110 retr $c "$rounds"
    done
    echo "memory after load: mailstack $(rss 'release/(pop3|drac-registry)') MB, dovecot $(rss 'dovecot') MB" | tee -a "$results"
    stop_servers
done
echo "== results"
cat "$results"
