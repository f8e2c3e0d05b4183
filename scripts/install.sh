#!/usr/bin/env bash
# Installs mailstack for systemd: binaries in /opt/mailstack/bin with the Swift runtime libraries
# they need in /opt/mailstack/lib (found through their RPATH, so no toolchain is needed at run
# time and the services share one copy of the runtime in memory), units in
# /etc/systemd/system, users and groups (sysusers.d), directories (tmpfiles.d), the default
# configuration (the seed's, /etc/mailstack/mailstack.yaml) and the seed's maps in /etc/mail
# (built with `mailstack makemap`). Existing configuration, passwd-file and maps are never
# overwritten.
#
#   scripts/install.sh                 build (release) and install on this machine
#   scripts/install.sh --bin DIR       install binaries already built in DIR
#   scripts/install.sh --root DIR      install into DIR as if it were / (for images and tests)
#
# Then: add users to /etc/mailstack/passwd (user:{SHA512-CRYPT}hash, `openssl passwd -6`) and
# run `systemctl enable --now mailstack.target`.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
root=/
bin=
while [ $# -gt 0 ]; do
    case "$1" in
        --root) root=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        *) echo "usage: $0 [--root DIR] [--bin DIR]" >&2; exit 64 ;;
    esac
done
root=${root%/}
mapfile -t services < "$src/deploy/services"

if [ -z "$bin" ]; then
    "$src/scripts/install-deps.sh" >/dev/null
    echo "== building (release)"
    (cd "$src" && swift build -c release >/dev/null)
    bin=$(cd "$src" && swift build -c release --show-bin-path)
fi
bin=$(cd "$bin" && pwd)

echo "== binaries -> $root/opt/mailstack/bin, Swift runtime -> $root/opt/mailstack/lib"
install -d -m 0755 "$root/opt/mailstack/bin" "$root/opt/mailstack/lib" "$root/opt/mailstack/share"
if [ "$(cd "$root/opt/mailstack/bin" && pwd -P)" != "$(cd "$bin" && pwd -P)" ]; then
    "$src/scripts/stage-binaries.sh" "$bin" "$root/opt/mailstack" /opt/mailstack mailstack sendmail
    # The services are roles of mailstack, started by their names (the units' ExecStart).
    "$src/scripts/link-services.sh" "$root/opt/mailstack/bin"
else
    # Installing from binaries already in place (an image's read-only /opt): their links must be too.
    for s in "${services[@]}"; do
        [ -L "$bin/$s" ] || { echo "install: $bin/$s is missing (scripts/link-services.sh $bin)" >&2; exit 66; }
    done
fi
install -m 0644 "$src/README.md" "$src/docs/configuration.md" "$root/opt/mailstack/share/" 2>/dev/null || true

echo "== units -> $root/etc/systemd/system"
install -d -m 0755 "$root/etc/systemd/system" "$root/etc/sysusers.d" "$root/etc/tmpfiles.d"
install -m 0644 "$src"/deploy/systemd/*.service "$src"/deploy/systemd/*.socket "$src"/deploy/systemd/*.target \
    "$root/etc/systemd/system/"
# The settings every mailstack-*.service shares (a prefix drop-in).
install -d -m 0755 "$root/etc/systemd/system/mailstack-.service.d"
install -m 0644 "$src"/deploy/systemd/mailstack-.service.d/*.conf "$root/etc/systemd/system/mailstack-.service.d/"
install -m 0644 "$src/deploy/sysusers.d/mailstack.conf" "$root/etc/sysusers.d/mailstack.conf"
install -m 0644 "$src/deploy/tmpfiles.d/mailstack.conf" "$root/etc/tmpfiles.d/mailstack.conf"

echo "== users and directories"
if [ "$root" = "" ]; then
    systemd-sysusers /etc/sysusers.d/mailstack.conf
    systemd-tmpfiles --create /etc/tmpfiles.d/mailstack.conf
else
    systemd-sysusers --root="$root" "$root/etc/sysusers.d/mailstack.conf"
    systemd-tmpfiles --create --root="$root" "$root/etc/tmpfiles.d/mailstack.conf"
fi
gid() { while IFS=: read -r group _ id _; do [ "$group" = "$1" ] && echo "$id"; done < "$root/etc/group"; }

echo "== configuration -> $root/etc/mailstack, maps -> $root/etc/mail"
# /etc/mailstack/smrsh: the programs aliases may run (local.smrsh_directory), empty until an
# administrator links some there.
install -d -m 0755 "$root/etc/mailstack" "$root/etc/mailstack/smrsh" "$root/etc/mail"
if [ ! -e "$root/etc/mailstack/mailstack.yaml" ]; then
    install -m 0644 "$src/etc/mailstack.yaml" "$root/etc/mailstack/mailstack.yaml"
fi
if [ ! -e "$root/etc/mailstack/passwd" ]; then
    install -m 0640 /dev/null "$root/etc/mailstack/passwd"
    chgrp "$(gid mailstack-auth)" "$root/etc/mailstack/passwd"
fi
for map in access virtusertable mailertable virtuser-domains aliases; do
    [ -e "$root/etc/mail/$map" ] || install -m 0644 "$src/etc/mail/$map" "$root/etc/mail/$map"
done
for map in access virtusertable mailertable; do
    if [ ! -e "$root/etc/mail/$map.db" ] || [ "$root/etc/mail/$map" -nt "$root/etc/mail/$map.db" ]; then
        "$bin/mailstack" makemap hash "$root/etc/mail/$map" < "$root/etc/mail/$map"
    fi
done
if [ ! -e "$root/etc/mail/aliases.db" ] || [ "$root/etc/mail/aliases" -nt "$root/etc/mail/aliases.db" ]; then
    "$bin/mailstack" newaliases "$root/etc/mail/aliases"
fi
"$bin/mailstack" check-config --quiet "$root/etc/mailstack/mailstack.yaml"

if [ "$root" = "" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    echo "installed; start with: systemctl enable --now mailstack.target"
else
    echo "installed into ${root:-/}"
fi
