#!/usr/bin/env bash
# Durable SMTP acceptance, mailstack against Postfix on the same machine in the same run
# (issue 5's benchmark). mailstack: smtp-in + relay-policy + queue (queueonly: accepted and
# kept); Postfix: smtpd + cleanup, every message put on hold (bench/postfix/start.sh). Both
# answer 250 only once the message is on disk. Driven by Postfix's smtp-source (messages per
# second) and by bench/smtp-load (the same, plus p50/p99 latency per message), 2 KB and 50 KB
# messages, 1 and 10 recipients, 1, 10 and 50 connections. Loopback only.
# Usage: bench/smtp/run.sh [scale]   (scale multiplies the message counts; default 1)
# Not a test. Needs root (Postfix runs its daemons as the postfix user).
set -euo pipefail
cd "$(dirname "$0")/../.."
scale=${1:-1}
source bench/lib.sh
bench_setup smtp drac-registry relay-policy queue smtp-in mailstack smtp-load
ours=$((30000 + RANDOM % 10000)); theirs=$((ours + 1))
mailstack_start "$ours" drac-registry relay-policy queue smtp-in
bench/postfix/start.sh "$dir/postfix" "$theirs" >/dev/null 2>&1
wait_port "$theirs"

pss() { # PSS in MB of the given process ids
    local total=0
    for pid in "$@"; do total=$((total + $(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0))); done
    echo "$((total / 1024))"
}
postfix_pids() { # master and its children (smtpd, cleanup, qmgr, ...)
    local master
    master=$(tr -d ' ' < "$dir/postfix/spool/pid/master.pid")
    echo "$master $(pgrep -P "$master" | tr '\n' ' ')"
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, spool on $(df -T "$dir" | awk 'NR==2 {print $2}'); mailstack: smtp-in+relay-policy+queue (queueonly); Postfix $(LD_LIBRARY_PATH=.build/postfix/usr/lib/postfix .build/postfix/usr/sbin/postconf -c "$dir/postfix/etc" -h mail_version) (hold)"
printf "%-22s %12s %12s %7s   %-60s %-60s\n" "point" "smtp-source" "(Postfix)" "ratio" "smtp-load mailstack" "smtp-load Postfix"
for size in 2048 51200; do
    for rcpts in 1 10; do
        for conns in 1 10 50; do
            n=$(( (conns == 1 ? 300 : 1500) * scale ))
            [ "$size" -gt 10000 ] && n=$((n / 2))
            rate() { # messages per second of smtp-source against port $1
                local t0 t1
                t0=$(date +%s.%N)
                scripts/postfix-tool smtp-source -s "$conns" -m "$n" -l "$size" -r "$rcpts" -f load@client.test -t rcpt@remote.test \
                    -M client.test "127.0.0.1:$1" >/dev/null
                t1=$(date +%s.%N)
                echo "$n $t0 $t1" | awk '{printf "%.0f", $1 / ($3 - $2)}'
            }
            a=$(rate "$ours"); b=$(rate "$theirs")
            la=$("$bin/smtp-load" --port "$ours" --connections "$conns" --messages "$n" --size "$size" --recipients "$rcpts" --label mailstack)
            lb=$("$bin/smtp-load" --port "$theirs" --connections "$conns" --messages "$n" --size "$size" --recipients "$rcpts" --label postfix)
            printf "%-22s %12s %12s %7s   %-60s %-60s\n" "${size}B ${rcpts}rcpt ${conns}conn" "$a/s" "$b/s" \
                "$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", a / b}')" "${la#*: }" "${lb#*: }"
        done
    done
done
echo "memory after the run (PSS): mailstack $(pss "${pids[@]}") MB; Postfix $(pss $(postfix_pids)) MB"
echo "messages held: mailstack $(ls "$dir/spool/msg" | wc -l), Postfix $(find "$dir/postfix/spool/hold" -type f | wc -l)"
