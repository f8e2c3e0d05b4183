# Shared by the benchmark scripts (sourced): a release build, a state directory, mailstack's
# services on a queueonly queue with the seed's maps, and cleanup of everything on exit.
#   bench_setup NAME PRODUCTS...        builds, sets $bin and $dir, installs the cleanup trap
#   mailstack_start PORT SERVICES... [-- EXTRA --set ARGS]
#                                       starts SERVICES on the seed's maps, SMTP on 127.0.0.1:PORT
# KEEP=1 leaves the directory and the processes for a look; BUILD=debug uses debug binaries.

pids=()

bench_setup() {
    local name=$1
    shift
    scripts/install-deps.sh >/dev/null
    local config=${BUILD:-release}
    for p in "$@"; do swift build -c "$config" --product "$p" >/dev/null; done
    bin=$(swift build -c "$config" --show-bin-path)
    dir=$(mktemp -d "/var/tmp/mailstack-$name-bench.XXXXXX")
    chmod 755 "$dir"
    trap bench_cleanup EXIT
    [ -n "${KEEP:-}" ] && trap - EXIT
    return 0
}

bench_cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    bench/postfix/stop.sh "$dir/postfix" >/dev/null 2>&1 || true
    wait 2>/dev/null || true
    rm -rf "$dir"
}

mailstack_start() {
    local port=$1
    shift
    local services=() extra=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do services+=("$1"); shift; done
    [ "${1:-}" = -- ] && { shift; extra=("$@"); }
    for m in access virtusertable mailertable; do "$bin/mailstack" makemap hash "$dir/$m" < "etc/mail/$m"; done
    cp etc/mail/virtuser-domains "$dir/"
    : > "$dir/passwd"
    local args=(--set ipc.directory="$dir" --set maps.access="$dir/access.db" --set maps.virtusertable="$dir/virtusertable.db"
        --set maps.mailertable="$dir/mailertable.db" --set maps.virtuser_domains="$dir/virtuser-domains"
        --set pop3.passwd_file="$dir/passwd" --set drac.database="$dir/drac.db" --set queue.directory="$dir/spool"
        --set queue.maildir_root="$dir/maildirs" --set queue.delivery_mode=queueonly --set queue.min_age=1h
        --set queue.warn_after=2h --set queue.return_after=1d --set smtp.listen="127.0.0.1:$port"
        --set smtp.max_connections_per_client=100 --set dns.servers=127.0.0.1:9 --set log.level=notice "${extra[@]}")
    for s in "${services[@]}"; do
        local program="$bin/$s"
        [ "$s" = queue ] && [ -n "${QUEUE_BINARY:-}" ] && program=$QUEUE_BINARY   # e.g. a sanitizer build
        "$program" "${args[@]}" 2>"$dir/$s.log" &
        pids+=($!)
        until grep -q "$s ready" "$dir/$s.log" 2>/dev/null; do
            kill -0 "${pids[-1]}" || { cat "$dir/$s.log"; exit 1; }
            sleep 0.05
        done
    done
}

# Waits until a TCP port on 127.0.0.1 accepts connections.
wait_port() { until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do sleep 0.1; done; }
