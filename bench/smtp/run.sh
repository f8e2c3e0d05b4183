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
scripts/install-deps.sh >/dev/null
for p in drac-registry relay-policy queue smtp-in mailstack smtp-load; do swift build -c release --product "$p" >/dev/null; done
bin=$(swift build -c release --show-bin-path)
dir=$(mktemp -d /var/tmp/mailstack-smtp-bench.XXXXXX)
chmod 755 "$dir"
ours=$((30000 + RANDOM % 10000)); theirs=$((ours + 1))
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    bench/postfix/stop.sh "$dir/postfix" >/dev/null 2>&1 || true
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

for m in access virtusertable mailertable; do "$bin/mailstack" makemap hash "$dir/$m" < "etc/mail/$m"; done
cp etc/mail/virtuser-domains "$dir/"
: > "$dir/passwd"
set_args=(--set ipc.directory="$dir" --set maps.access="$dir/access.db" --set maps.virtusertable="$dir/virtusertable.db"
    --set maps.mailertable="$dir/mailertable.db" --set maps.virtuser_domains="$dir/virtuser-domains"
    --set pop3.passwd_file="$dir/passwd" --set drac.database="$dir/drac.db" --set queue.directory="$dir/spool"
    --set queue.maildir_root="$dir/maildirs" --set queue.delivery_mode=queueonly --set queue.min_age=1h
    --set queue.warn_after=2h --set queue.return_after=1d --set smtp.listen=127.0.0.1:$ours
    --set smtp.max_connections_per_client=100 --set dns.servers=127.0.0.1:9 --set log.level=notice)
for s in drac-registry relay-policy queue smtp-in; do
    "$bin/$s" "${set_args[@]}" 2>"$dir/$s.log" &
    pids+=($!)
    until grep -q "$s ready" "$dir/$s.log" 2>/dev/null; do kill -0 "${pids[-1]}" || { cat "$dir/$s.log"; exit 1; }; sleep 0.05; done
done
bench/postfix/start.sh "$dir/postfix" "$theirs" >/dev/null 2>&1
until (exec 3<>/dev/tcp/127.0.0.1/$theirs) 2>/dev/null; do sleep 0.1; done

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
