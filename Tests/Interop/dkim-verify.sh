#!/bin/sh
# Verifies DKIM signatures of messages with independent verifiers, keys served by a real DNS
# server: run as root inside `unshare -n -m` (a network namespace of its own, with nothing but
# its loopback, so no query can leave the machine, and a mount namespace where
# /etc/resolv.conf names that loopback).
#
#   unshare -n -m sh dkim-verify.sh DIR
#
# DIR/records holds `name<TAB>TXT text` lines (served by dnsmasq on 127.0.0.1:53); every
# DIR/*.eml is checked by
#   dkimpy      Debian's python3-dkim, every signature of the message (dkimpy-verify.py)
#   testmsg     OpenDKIM's opendkim-testmsg (libopendkim; 0 when the message verifies)
#   opendkim    the opendkim filter itself in test mode (-t), Nameservers 127.0.0.1
# and one line per message is printed: `NAME dkimpy=pass,pass testmsg=pass opendkim=pass`.
set -u
dir=$1
here=$(dirname "$0")
ip link set lo up
echo "nameserver 127.0.0.1" > "$dir/resolv.conf"
mount --bind "$dir/resolv.conf" /etc/resolv.conf
set -- --conf-file=/dev/null --no-resolv --no-hosts --port=53 --listen-address=127.0.0.1 --bind-interfaces \
    --user=root --pid-file="$dir/dnsmasq.pid" --local=/test/ --local=/com/
while IFS="$(printf '\t')" read -r name text; do
    set -- "$@" "--txt-record=$name,$text"
done < "$dir/records"
dnsmasq "$@" || exit 1
trap 'kill $(cat "$dir/dnsmasq.pid")' EXIT
printf 'Mode v\nNameservers 127.0.0.1\nSyslog no\n' > "$dir/opendkim.conf"
for message in "$dir"/*.eml; do
    dkimpy=$(/usr/bin/python3 "$here/dkimpy-verify.py" < "$message")
    if opendkim-testmsg < "$message" > "$dir/testmsg.out" 2>&1; then testmsg=pass; else testmsg=fail; fi
    opendkim -x "$dir/opendkim.conf" -t "$message" > "$dir/opendkim.out" 2>&1
    if grep -q 'verification (.*) succeeded' "$dir/opendkim.out"; then filter=pass; else filter=fail; fi
    echo "$(basename "$message") dkimpy=$dkimpy testmsg=$testmsg opendkim=$filter"
    grep -h -v SMFIS "$dir/testmsg.out" "$dir/opendkim.out" | sed 's/^/  # /' >&2
done
