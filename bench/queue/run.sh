#!/usr/bin/env bash
# The queue's durable-acceptance benchmark (issue 6): messages made durable per second at 1, 10
# and 50 concurrent writers, against the machine's raw rate of the same durable sequence done one
# file at a time in the same file system; then the queue's memory with N messages held.
# Usage: bench/queue/run.sh [messages-per-point] [messages-held]   (defaults 3000 100000)
# Not a test. Release build; loopback and a temporary directory only.
set -euo pipefail
cd "$(dirname "$0")/../.."
per=${1:-3000}
held=${2:-100000}
for p in mailstack queue-bench; do swift build -c release --product "$p" >/dev/null; done
bin=$(swift build -c release --show-bin-path)
scripts/link-services.sh "$bin"   # queue is a role of mailstack
dir=$(mktemp -d /var/tmp/mailstack-queue-bench.XXXXXX)
trap 'kill $queue 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
# queueonly and a long min_age: messages are accepted and held, as Postfix's hold queue would.
"$bin/queue" --set ipc.directory="$dir" --set queue.directory="$dir/spool" --set queue.maildir_root="$dir/maildirs" \
    --set queue.delivery_mode=queueonly --set queue.min_age=1h --set queue.warn_after=2h --set queue.return_after=1d \
    --set log.level=warning 2>"$dir/queue.log" &
queue=$!
while [ ! -S "$dir/queue.sock" ]; do kill -0 $queue || { cat "$dir/queue.log"; exit 1; }; sleep 0.1; done
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, spool on $(df -T "$dir" | awk 'NR==2 {print $2}')"
"$bin/queue-bench" --socket "$dir/queue.sock" --messages "$per" --raw-directory "$dir/raw"
rss() { awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} END {printf "RSS %.1f MB, PSS %.1f MB", r/1024, p/1024}' "/proc/$queue/smaps_rollup"; }
echo "queue memory with $(ls "$dir/spool/msg" | wc -l) messages held: $(rss)"
if [ "$held" -gt 0 ]; then
    "$bin/queue-bench" --socket "$dir/queue.sock" --messages "$held" --writers 50 --size 2048 >/dev/null
    echo "queue memory with $(ls "$dir/spool/msg" | wc -l) messages held: $(rss)"
fi
