#!/usr/bin/env bash
# Outbound delivery, mailstack against Postfix in the same run (issue 7's benchmark): N messages
# are put in each system's queue and held, then released at once; measured from the release to
# the empty queue, both delivering to the same Postfix smtp-sink on loopback (mailstack through
# outbound.smart_host, Postfix through relayhost, each with its default concurrency).
# Usage: bench/feed/run.sh [messages] [size]   (defaults 2000 2048). Not a test. Needs root.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-2000}
size=${2:-2048}
scripts/install-deps.sh >/dev/null
config=${BUILD:-release}   # BUILD=debug runs the debug binaries (for diagnosing, not for figures)
for p in drac-registry relay-policy queue smtpfeed-out smtp-in mailstack; do swift build -c "$config" --product "$p" >/dev/null; done
bin=$(swift build -c "$config" --show-bin-path)
dir=$(mktemp -d /var/tmp/mailstack-feed-bench.XXXXXX)
chmod 755 "$dir"
base=$((30000 + RANDOM % 10000)); ours=$base; theirs=$((base + 1)); sink=$((base + 2))
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    bench/postfix/stop.sh "$dir/postfix" >/dev/null 2>&1 || true
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT   # KEEP=1 leaves the directory and processes for a look
scripts/postfix-tool smtp-sink -u nobody "127.0.0.1:$sink" 1000 &
pids+=($!)

for m in access virtusertable mailertable; do "$bin/mailstack" makemap hash "$dir/$m" < "etc/mail/$m"; done
cp etc/mail/virtuser-domains "$dir/"
: > "$dir/passwd"
set_args=(--set ipc.directory="$dir" --set maps.access="$dir/access.db" --set maps.virtusertable="$dir/virtusertable.db"
    --set maps.mailertable="$dir/mailertable.db" --set maps.virtuser_domains="$dir/virtuser-domains"
    --set pop3.passwd_file="$dir/passwd" --set drac.database="$dir/drac.db" --set queue.directory="$dir/spool"
    --set queue.maildir_root="$dir/maildirs" --set queue.delivery_mode=queueonly --set queue.min_age=1h
    --set queue.warn_after=2h --set queue.return_after=1d --set smtp.listen=127.0.0.1:$ours
    --set smtp.max_connections_per_client=100 --set dns.servers=127.0.0.1:9 --set log.level=notice
    --set outbound.smart_host="[127.0.0.1]:$sink")
for s in drac-registry relay-policy queue smtpfeed-out smtp-in; do
    program="$bin/$s"
    [ "$s" = queue ] && [ -n "${QUEUE_BINARY:-}" ] && program=$QUEUE_BINARY   # e.g. a sanitizer build
    "$program" "${set_args[@]}" 2>"$dir/$s.log" &
    pids+=($!)
    until grep -q "$s ready" "$dir/$s.log" 2>/dev/null; do kill -0 "${pids[-1]}" || { cat "$dir/$s.log"; exit 1; }; sleep 0.05; done
done
bench/postfix/start.sh "$dir/postfix" "$theirs" "[127.0.0.1]:$sink" >/dev/null 2>&1
until (exec 3<>/dev/tcp/127.0.0.1/$theirs) 2>/dev/null; do sleep 0.1; done

fill() { scripts/postfix-tool smtp-source -s 20 -m "$n" -l "$size" -f load@client.test -t rcpt@remote.test -M client.test "127.0.0.1:$1" >/dev/null; }
now() { date +%s.%N; }
fill "$ours"; fill "$theirs"
echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores; $n messages of $size octets to one smtp-sink on loopback"
echo "held: mailstack $(ls "$dir/spool/msg" | wc -l), Postfix $(find "$dir/postfix/spool/hold" -type f | wc -l)"

t0=$(now)
"$bin/mailstack" flush --set ipc.directory="$dir" >/dev/null
while [ "$(ls "$dir/spool/msg" | wc -l)" -gt 0 ]; do sleep 0.05; done
t1=$(now)
ours_rate=$(echo "$n $t0 $t1" | awk '{printf "%.0f", $1 / ($3 - $2)}')
echo "mailstack (queue + smtpfeed-out): $ours_rate msg/s"

t0=$(now)
bench/postfix/postfix-cmd "$dir/postfix" postsuper -H ALL 2>/dev/null
bench/postfix/postfix-cmd "$dir/postfix" postqueue -f
while [ "$(find "$dir/postfix/spool/"{hold,incoming,active,deferred} -type f 2>/dev/null | wc -l)" -gt 0 ]; do sleep 0.05; done
t1=$(now)
theirs_rate=$(echo "$n $t0 $t1" | awk '{printf "%.0f", $1 / ($3 - $2)}')
echo "Postfix (qmgr + smtp): $theirs_rate msg/s; mailstack / Postfix $(awk -v a="$ours_rate" -v b="$theirs_rate" 'BEGIN {printf "%.2f", a / b}')"
grep -c "stat=Sent" "$dir/queue.log" >/dev/null 2>&1 || true
