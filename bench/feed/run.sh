#!/usr/bin/env bash
# Outbound delivery, mailstack against Postfix in the same run (issue 7's benchmark): N messages
# are put in each system's queue and held, then released at once; measured from the release to
# the empty queue, both delivering to the same Postfix smtp-sink on loopback (mailstack through
# outbound.smart_host, Postfix through relayhost, each with its default concurrency).
# Usage: bench/feed/run.sh [messages] [size]   (defaults 2000 2048). Not a test. Needs root.
# KEEP=1, BUILD=debug, QUEUE_BINARY=...: see bench/lib.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-2000}
size=${2:-2048}
source bench/lib.sh
bench_setup feed drac-registry relay-policy queue smtpfeed-out smtp-in mailstack
base=$((30000 + RANDOM % 10000)); ours=$base; theirs=$((base + 1)); sink=$((base + 2))
scripts/postfix-tool smtp-sink -u nobody "127.0.0.1:$sink" 1000 &
pids+=($!)
mailstack_start "$ours" drac-registry relay-policy queue smtpfeed-out smtp-in -- --set outbound.smart_host="[127.0.0.1]:$sink"
bench/postfix/start.sh "$dir/postfix" "$theirs" "[127.0.0.1]:$sink" >/dev/null 2>&1
wait_port "$theirs"

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
