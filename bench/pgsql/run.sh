#!/usr/bin/env bash
# drac lookups and RCPT decisions with drac-registry's file backend against its PostgreSQL
# backend (issue 18), through the real binaries over their sockets (ipc-bench). PostgreSQL is a
# throw-away cluster on loopback started here (initdb/pg_ctl as postgres), never the system's.
#   BIN=.build/release bench/pgsql/run.sh [REQUESTS]      (as root; prints the table, and keeps it
#                                                          in bench/results/pgsql-DATE.txt)
set -euo pipefail
# Read p50 and p99 of the same run together: on a machine shared with other work p99 measures the neighbours.
cd "$(dirname "$0")/../.."
BIN=$(cd "${BIN:?set BIN to the directory of the binaries, e.g. BIN=.build/release}" && pwd)
REQUESTS=${1:-20000}
PGBIN=/usr/lib/postgresql/15/bin
T=$(mktemp -d /tmp/ms-pgbench-XXXXXX)
chmod 755 "$T"
pids=()
cleanup() {
    set +e
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    [ -d "$T/pg/data" ] && setpriv --reuid=postgres --regid=postgres --init-groups "$PGBIN/pg_ctl" -D "$T/pg/data" -m immediate -w stop >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT
port=$((20000 + RANDOM % 10000))
mkdir -p "$T/pg"; chown postgres:postgres "$T/pg"
head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$T/pgpass"; chmod 600 "$T/pgpass"
install -o postgres -m 600 "$T/pgpass" "$T/pg/pw"
pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$PGBIN/$1" "${@:2}"; }
pg initdb -D "$T/pg/data" -U mailstack --auth=scram-sha-256 --pwfile="$T/pg/pw" -E UTF8 --locale=C --no-sync >/dev/null
pg pg_ctl -D "$T/pg/data" -l "$T/pg/log" -w -o "-k $T/pg -c listen_addresses=127.0.0.1 -p $port" start >/dev/null
PGPASSWORD=$(cat "$T/pgpass") "$PGBIN/psql" -h "$T/pg" -p "$port" -U mailstack -d postgres -qAt -c "CREATE DATABASE mailstack"

for map in access virtusertable mailertable; do "$BIN/mailstack" makemap hash "$T/$map" < etc/mail/$map; done
cp etc/mail/virtuser-domains etc/mail/aliases "$T/"
"$BIN/mailstack" newaliases "$T/aliases" 2>/dev/null
printf 'you:{PLAIN}x\n' > "$T/passwd"

# start NAME EXTRA-SETTINGS...: drac-registry and relay-policy in $T/NAME
start() {
    local name=$1; shift
    mkdir -p "$T/$name"
    local args=(--set ipc.directory="$T/$name" --set ipc.socket_mode=0666 --set log.level=warning --set drac.database="$T/$name/drac.db"
        --set maps.access="$T/access.db" --set maps.virtusertable="$T/virtusertable.db" --set maps.mailertable="$T/mailertable.db"
        --set maps.virtuser_domains="$T/virtuser-domains" --set maps.aliases="$T/aliases" --set pop3.passwd_file="$T/passwd"
        --set dns.servers=127.0.0.1:9 --set pgsql.host=127.0.0.1 --set pgsql.port="$port" --set pgsql.password_file="$T/pgpass")
    for s in "$@"; do args+=(--set "$s"); done
    for service in drac-registry relay-policy; do
        "$BIN/$service" "${args[@]}" 2>"$T/$name/$service.log" &
        pids+=($!)
        for _ in $(seq 1 300); do [ -S "$T/$name/$service.sock" ] && break; sleep 0.1; done
    done
    "$BIN/mailstack" drac add 192.0.2.1 --set ipc.directory="$T/$name" >/dev/null
}
start file drac.backend=file
start pgsql drac.backend=pgsql
start pgsql-nocache drac.backend=pgsql drac.cache_ttl=0s

bench() { # bench NAME ARGS...: ipc-bench's figures under a heading
    local name=$1; shift
    echo "$name"
    "$BIN/ipc-bench" --requests "$REQUESTS" "$@" | sed 's/^/    /'
}
{
echo "drac lookups and RCPT decisions, file vs PostgreSQL backend ($(date -u +%Y-%m-%d), $REQUESTS requests, $(nproc) cores, PostgreSQL 15 on loopback)"
for backend in file pgsql pgsql-nocache; do
    sock=$T/$backend
    bench "drac lookup, authorized client, $backend" --socket "$sock/drac-registry.sock" --service drac-registry --drac-lookup
    bench "drac lookup, unknown client, $backend" --socket "$sock/drac-registry.sock" --service drac-registry --drac-lookup --address 192.0.2.99
    bench "RCPT remote, authorized client, $backend" --socket "$sock/relay-policy.sock" --service relay-policy --policy-rcpt friend@example.net
    bench "RCPT remote, unknown client, $backend" --socket "$sock/relay-policy.sock" --service relay-policy --policy-rcpt friend@example.net --address 192.0.2.99
done
} | tee "bench/results/pgsql-$(date -u +%Y-%m-%d).txt"
