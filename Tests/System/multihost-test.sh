#!/usr/bin/env bash
# Two front-end hosts on one PostgreSQL, as network namespaces on this machine (issue 18):
#
#   client 10.200.0.10 --+
#   host A 10.200.0.2  --+-- bridge (a namespace of its own) -- PostgreSQL 10.200.0.1
#   host B 10.200.0.3  --+
#
# Each host runs its own drac-registry (drac.backend: pgsql), relay-policy (maps.backend:
# pgsql), queue, smtp-in and pop3 (pop3.users and pop3.mailbox_lock: pgsql), with its own
# dnsmasq on its loopback; the Maildir folder is one directory both hosts use. PostgreSQL is started here with initdb/pg_ctl as `postgres`,
# never the system's service. Nothing leaves the namespaces. Waits are for events (polls with a
# bound that only catches a broken build), never fixed sleeps.
#   multihost-test.sh BIN        (as root; BIN holds the built binaries)
set -euo pipefail
BIN=$(cd "${1:?usage: multihost-test.sh BIN}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT_DIR=$(cd "$HERE/../.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
T=$(mktemp -d /tmp/ms-mh-XXXXXX)
chmod 755 "$T"
tag="m$$"
NS_SW=${tag}sw NS_DB=${tag}db NS_A=${tag}a NS_B=${tag}b NS_C=${tag}c
declare -A ADDR=([$NS_DB]=10.200.0.1 [$NS_A]=10.200.0.2 [$NS_B]=10.200.0.3 [$NS_C]=10.200.0.10)
A=10.200.0.2 B=10.200.0.3
pids=()
failures=0

pg() { ip netns exec "$NS_DB" setpriv --reuid=postgres --regid=postgres --init-groups "$PGBIN/$1" "${@:2}"; }
sql() { PGPASSWORD=$(cat "$T/pgpass") ip netns exec "$NS_DB" "$PGBIN/psql" -h "$T/pg" -U mailstack -d mailstack -qAt -v ON_ERROR_STOP=1 -c "$1"; }
cleanup() {
    set +e
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
    [ -d "$T/pg/data" ] && pg pg_ctl -D "$T/pg/data" -m immediate -w stop >/dev/null 2>&1
    for ns in "$NS_A" "$NS_B" "$NS_C" "$NS_DB" "$NS_SW"; do ip netns del "$ns" 2>/dev/null; done
    if [ "$failures" -eq 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "state kept in $T"; fi
}
trap cleanup EXIT
# Polls CMD (a shell function or command) until it succeeds; the bound catches a broken build only.
wait_for() {
    local what=$1; shift
    for _ in $(seq 1 600); do "$@" && return 0; sleep 0.1; done
    echo "FAIL: timed out waiting for: $what"; failures=$((failures + 1)); exit 1
}
check() { # check WHAT EXPECTED-REGEX ACTUAL
    if [[ $3 =~ ^$2$ ]]; then echo "ok   $1 ($3)"; else echo "FAIL $1: expected $2, got $3"; failures=$((failures + 1)); exit 1; fi
}
client() { ip netns exec "$NS_C" python3 "$HERE/multihost_client.py" "$@"; }

echo "== network: a bridge and four namespaces"
ip netns add "$NS_SW"
ip -n "$NS_SW" link add br0 type bridge
ip -n "$NS_SW" link set br0 up
n=0
for ns in "$NS_DB" "$NS_A" "$NS_B" "$NS_C"; do
    n=$((n + 1))
    ip netns add "$ns"
    ip link add "${tag}v$n" type veth peer name "${tag}p$n"
    ip link set "${tag}v$n" netns "$ns" name eth0
    ip link set "${tag}p$n" netns "$NS_SW"
    ip -n "$NS_SW" link set "${tag}p$n" master br0 up
    ip -n "$ns" addr add "${ADDR[$ns]}/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
done

echo "== PostgreSQL in its namespace"
mkdir -p "$T/pg"
chown postgres:postgres "$T/pg"
head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$T/pgpass"
chmod 600 "$T/pgpass"
install -o postgres -m 600 "$T/pgpass" "$T/pg/superuser-password"
pg initdb -D "$T/pg/data" -U mailstack --auth=scram-sha-256 --pwfile="$T/pg/superuser-password" -E UTF8 --locale=C --no-sync >/dev/null
echo "host all mailstack 10.200.0.0/24 scram-sha-256" >> "$T/pg/data/pg_hba.conf"
pg_start() { pg pg_ctl -D "$T/pg/data" -l "$T/pg/log" -w -t 60 -o "-k $T/pg -c listen_addresses=10.200.0.1 -p 5432 -c fsync=off" start >/dev/null; }
pg_start
PGPASSWORD=$(cat "$T/pgpass") ip netns exec "$NS_DB" "$PGBIN/psql" -h "$T/pg" -U mailstack -d postgres -qAt -c "CREATE DATABASE mailstack"

echo "== the shared files: maps, users, the Maildir folder"
mkdir -p "$T/maps" "$T/maildirs"
# access, virtusertable, mailertable, virtuser-domains and the aliases live in the database
# (maps.backend: pgsql), loaded once from host A's namespace; no host has those files.
pgsql_settings=(--set pgsql.host=10.200.0.1 --set pgsql.port=5432 --set pgsql.database=mailstack --set pgsql.user=mailstack
                --set pgsql.password_file="$T/pgpass")
load_map() { ip netns exec "$NS_A" "$BIN/mailstack" makemap --pgsql hash "$1" "${pgsql_settings[@]}"; }
for map in access virtusertable mailertable virtuser-domains; do load_map "$map" < "$ROOT_DIR/etc/mail/$map" >/dev/null; done
cp "$ROOT_DIR/etc/mail/aliases" "$T/aliases.source"
load_aliases() { ip netns exec "$NS_A" "$BIN/mailstack" newaliases --pgsql "$1" "${pgsql_settings[@]}" 2>/dev/null; }
load_aliases "$T/aliases.source"
# pop3 and relay-policy read the users from the table (pop3.users: pgsql); no host has a passwd-file.
sql "CREATE TABLE mail_users (name text PRIMARY KEY, password text NOT NULL)"
sql "INSERT INTO mail_users VALUES ('you', '{PLAIN}secret1'), ('user2', '{PLAIN}secret2')"

start_host() { # start_host NS NAME ADDRESS
    local ns=$1 name=$2 address=$3 dir=$T/$2
    mkdir -p "$dir/run" "$dir/spool"
    ip netns exec "$ns" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --port=5353 \
        --listen-address=127.0.0.1 --bind-interfaces --user=root --local=/test/ --local=/in-addr.arpa/ --pid-file= \
        --ptr-record=10.0.200.10.in-addr.arpa,client.test --host-record=client.test,10.200.0.10 2>"$dir/dnsmasq.log" &
    pids+=($!)
    local settings=(
        ipc.directory="$dir/run" ipc.socket_mode=0666 log.level=info host.name="$name"
        maps.access="$T/maps/access.db" maps.virtusertable="$T/maps/virtusertable.db" maps.mailertable="$T/maps/mailertable.db"
        maps.virtuser_domains="$T/maps/virtuser-domains" maps.aliases="$T/maps/aliases" pop3.passwd_file="$T/maps/passwd"
        dns.servers=127.0.0.1:5353 queue.directory="$dir/spool" queue.maildir_root="$T/maildirs" drac.database="$dir/drac.db"
        smtp.listen="$address:25" pop3.listen="$address:110" pop3.failure_delay=0s
        drac.backend=pgsql drac.cache_ttl=1s pop3.mailbox_lock=pgsql pop3.users=pgsql maps.backend=pgsql maps.max_stale=3s
        pgsql.host=10.200.0.1 pgsql.port=5432 pgsql.database=mailstack pgsql.user=mailstack pgsql.password_file="$T/pgpass" pgsql.timeout=2s
    )
    local args=()
    for s in "${settings[@]}"; do args+=(--set "$s"); done
    for service in drac-registry relay-policy queue smtp-in pop3; do
        ip netns exec "$ns" "$BIN/$service" "${args[@]}" 2>"$dir/$service.log" &
        pids+=($!)
        wait_for "$name $service ready" grep -q "$service ready" "$dir/$service.log"
    done
}
echo "== host A and host B"
start_host "$NS_A" a "$A"
start_host "$NS_B" b "$B"

relay_code() { client rcpt "$1" friend@example.net; }
code_is() { [[ $(relay_code "$1") =~ ^$2$ ]]; }

echo "== POP-before-SMTP across hosts"
check "relaying from the client through B before any login" 550 "$(relay_code $B)"
check "POP3 login on A" "\+OK" "$(client pop3 $A you secret1)"
check "relaying from the client through B after the login on A" 250 "$(relay_code $B)"
check "relaying from the client through A" 250 "$(relay_code $A)"
check "a local recipient through B" 250 "$(client rcpt $B you@domain1.com)"

echo "== the window ends (at the database: its clock decides) and closes on both"
sql "UPDATE drac SET expires = now() WHERE address = '10.200.0.10'"
wait_for "relaying closed on A" code_is "$A" 550
wait_for "relaying closed on B" code_is "$B" 550
check "relaying through A after the window" 550 "$(relay_code $A)"
check "relaying through B after the window" 550 "$(relay_code $B)"

echo "== a map change (virtusertable, aliases) loaded once is seen by both hosts"
check "an unknown user of domain1.com through A (the seed's catch-all)" 550 "$(client rcpt $A newuser@domain1.com)"
{ cat "$ROOT_DIR/etc/mail/virtusertable"; echo "newuser@domain1.com you"; } | load_map virtusertable >/dev/null
rcpt_is() { [[ $(client rcpt "$1" "$2") == "$3" ]]; }
wait_for "the new virtusertable on A" rcpt_is "$A" newuser@domain1.com 250
wait_for "the new virtusertable on B" rcpt_is "$B" newuser@domain1.com 250
check "an alias not there yet, through B" 550 "$(client rcpt $B helpdesk@b.domain.com)"
{ cat "$T/aliases.source"; echo "helpdesk: you"; } > "$T/aliases.new"
load_aliases "$T/aliases.new"
wait_for "the new alias on A" rcpt_is "$A" helpdesk@a.domain.com 250
wait_for "the new alias on B" rcpt_is "$B" helpdesk@b.domain.com 250
check "a domain not ours yet, through A (relaying denied)" 550 "$(client rcpt $A you@domain3.test)"
{ cat "$ROOT_DIR/etc/mail/virtuser-domains"; echo "domain3.test  # added"; } | load_map virtuser-domains >/dev/null
wait_for "the new virtual domain on A" rcpt_is "$A" you@domain3.test 250
wait_for "the new virtual domain on B" rcpt_is "$B" you@domain3.test 250

echo "== a user added to the table once is a mailbox on both hosts"
check "a user not there yet, through B" 550 "$(client rcpt $B newbie@b.domain.com)"
sql "INSERT INTO mail_users VALUES ('newbie', '{PLAIN}secret3')"
wait_for "the new user on A" rcpt_is "$A" newbie@a.domain.com 250
wait_for "the new user on B" rcpt_is "$B" newbie@b.domain.com 250
check "the new user's POP3 login on B" "\+OK" "$(client pop3 $B newbie secret3)"

echo "== one mailbox, one session across hosts"
client hold "$A" you secret1 "$T/release-hold" > "$T/hold.out" &
hold=$!
wait_for "the session on A" grep -q "^+OK" "$T/hold.out"
check "the same mailbox on B while A holds it" "-ERR \[IN-USE\].*" "$(client pop3 $B you secret1)"
check "another mailbox on B" "\+OK" "$(client pop3 $B user2 secret2)"
touch "$T/release-hold"
wait "$hold"
wait_for "the mailbox free again on B" bash -c "[[ \$(ip netns exec $NS_C python3 $HERE/multihost_client.py pop3 $B you secret1) == +OK ]]"

echo "== PostgreSQL stopped: temporary answers on both hosts, never 5xx, never relaying"
check "POP3 login on B (registers the client again)" "\+OK" "$(client pop3 $B you secret1)"
wait_for "relaying open on A" code_is "$A" 250
pg pg_ctl -D "$T/pg/data" -m fast -w stop >/dev/null
not_relaying() { ! code_is "$1" 250; }
wait_for "A no longer answers from its cache" not_relaying "$A"
check "relaying through A with the database down" "4[0-9][0-9]" "$(relay_code $A)"
check "relaying through B with the database down" "4[0-9][0-9]" "$(relay_code $B)"
# The maps in memory answer until maps.max_stale (3 s here) without news from the database; then
# every answer that needs a map is temporary too.
wait_for "local recipients temporary on B once its maps are stale" bash -c "[[ \$(ip netns exec $NS_C python3 $HERE/multihost_client.py rcpt $B you@domain1.com) == 4* ]]"
check "a local recipient through A with the database down and stale maps" "4[0-9][0-9]" "$(client rcpt $A you@domain1.com)"
check "POP3 login on A with the database down" "-ERR \[SYS/TEMP\].*" "$(client pop3 $A you secret1)"
pg_start
wait_for "relaying back on B" code_is "$B" 250
wait_for "relaying back on A" code_is "$A" 250
check "POP3 login on A after the database came back" "\+OK" "$(client pop3 $A you secret1)"
wait_for "local recipients back on B" rcpt_is "$B" you@domain1.com 250
check "the loaded map still there on B" 250 "$(client rcpt $B newuser@domain1.com)"

for f in "$T"/a/*.log "$T"/b/*.log; do
    if grep -q "Fatal error\|failed:" "$f"; then echo "FAIL: $f"; grep "Fatal error\|failed:" "$f" | head -3; failures=$((failures + 1)); fi
done
[ "$failures" -eq 0 ] && echo "== all passed"
