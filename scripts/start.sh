#!/usr/bin/env bash
# Starts the whole mailstack in the foreground on the default configuration (the seed's), with
# no systemd: unprivileged loopback ports, state under ./state, Ctrl-C stops everything.
# A development launcher, not a supervisor: production runs under systemd (deploy/systemd).
#
# Nothing leaves the machine: the seed's mailertable route (a private address) is rewritten to a
# loopback port, and remote mail is held or looped back.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
state="$root/state"

scripts/install-deps.sh
echo "mailstack: building"
swift build >/dev/null
mapfile -t services < deploy/services # in start order: a service's peers before it
bin=$(swift build --show-bin-path)
scripts/link-services.sh "$bin"   # each service is mailstack started by its name

# State: sockets, spool, maildirs, maps, drac database.
mkdir -p "$state"/{run,spool,maildirs,mail,lib,smrsh}
export MAILSTACK_IPC_DIRECTORY="$state/run"
export MAILSTACK_QUEUE_DIRECTORY="$state/spool"
export MAILSTACK_QUEUE_MAILDIR_ROOT="$state/maildirs"
export MAILSTACK_DRAC_DATABASE="$state/lib/drac.db"
export MAILSTACK_MAPS_ACCESS="$state/mail/access.db"
export MAILSTACK_MAPS_VIRTUSERTABLE="$state/mail/virtusertable.db"
export MAILSTACK_MAPS_MAILERTABLE="$state/mail/mailertable.db"
export MAILSTACK_MAPS_VIRTUSER_DOMAINS="$state/mail/virtuser-domains"
export MAILSTACK_MAPS_ALIASES="$state/mail/aliases"
export MAILSTACK_SMTP_LISTEN="127.0.0.1:2525,[::1]:2525"
export MAILSTACK_DNS_SERVERS="127.0.0.1:5353"
# Every remote recipient goes to a loopback port (run `scripts/postfix-tool smtp-sink -u nobody 127.0.0.1:2526 100`
# there to see it arrive); with nothing listening it waits in the queue. Never the real world.
export MAILSTACK_OUTBOUND_SMART_HOST="[127.0.0.1]:2526"
export MAILSTACK_POP3_LISTEN="127.0.0.1:1110,[::1]:1110"
export MAILSTACK_POP3_PASSWD_FILE="$state/passwd"
export MAILSTACK_DRAC_WRITER_USERS="$(id -u)"
# Alias programs: only what is linked into state/smrsh may run (`ln -s /usr/bin/prog state/smrsh/`),
# as nobody (local-delivery runs as root here and switches users for each program and file), so
# nobody must be able to reach the entry: a checkout under a 0700 home is not.
export MAILSTACK_LOCAL_SMRSH_DIRECTORY="$state/smrsh"
# Every service runs as this one user here (under systemd each has its own).
export MAILSTACK_IPC_SERVICE_USERS
MAILSTACK_IPC_SERVICE_USERS=$(printf "%s=$(id -u)," "${services[@]}")

# Example users: the seed's local users, with passwords printed below (SHA512-CRYPT hashes;
# user2 has a PLAIN secret so APOP works for it).
if [ ! -f "$state/passwd" ]; then
    for u in you user4 fml info; do
        echo "$u:{SHA512-CRYPT}$(openssl passwd -6 "$u-password")"
    done > "$state/passwd"
    echo "user2:{PLAIN}user2-password" >> "$state/passwd"
fi

# The seed's maps, built with our makemap; the mailertable route goes to loopback only.
"$bin/mailstack" makemap hash "$state/mail/access" < etc/mail/access
"$bin/mailstack" makemap hash "$state/mail/virtusertable" < etc/mail/virtusertable
sed 's/\[192\.168\.0\.100\]/[127.0.0.1]:2526/' etc/mail/mailertable | "$bin/mailstack" makemap hash "$state/mail/mailertable"
cp etc/mail/virtuser-domains "$state/mail/virtuser-domains"
# The sample aliases (postmaster, MAILER-DAEMON, abuse, webmaster, root -> you), as newaliases builds them.
[ -f "$state/mail/aliases" ] || cp etc/mail/aliases "$state/mail/aliases"
"$bin/mailstack" newaliases "$state/mail/aliases"
"$bin/mailstack" check-config --quiet etc/mailstack.yaml

pids=()
# A DNS server on loopback for relay-policy's PTR checks: it knows the local test clients
# (127.0.0.2 is client.test) and answers NXDOMAIN for everything else; it forwards nothing.
/usr/sbin/dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --port=5353 \
    --listen-address=127.0.0.1 --bind-interfaces --user=root --pid-file= --local=/in-addr.arpa/ --local=/ip6.arpa/ \
    --local=/test/ --local-ttl=60 --host-record=client.test,127.0.0.2 2>"$state/dnsmasq.log" &
pids+=($!)
stop() {
    trap - INT TERM
    echo "mailstack: stopping"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait
    exit 0
}
trap stop INT TERM

declare -A names=([${pids[0]}]=dnsmasq)
for s in "${services[@]}"; do
    "$bin/$s" --config etc/mailstack.yaml &
    pids+=($!)
    names[$!]=$s
done
echo "mailstack: state in $state; sockets in $state/run"
echo "mailstack: POP3 on 127.0.0.1:1110; users you, user2, user4, fml, info with password <user>-password"
echo "mailstack: 'mailstack drac list --set ipc.directory=$state/run' shows POP-before-SMTP clients"
echo "mailstack: started ${services[*]}; Ctrl-C stops them"
# Not a supervisor: the first process to end ends the run, and says which it was.
set +e
wait -n -p ended "${pids[@]}"
status=$?
set -e
echo "mailstack: ${names[$ended]:-a process} (pid $ended) exited with status $status; stopping the others"
trap - INT TERM
for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
wait
exit 1
