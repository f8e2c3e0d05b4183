#!/usr/bin/env bash
# Installs what building and testing mailstack needs on a fresh Debian 12 machine (as root,
# from Debian's own archive only), and extracts sendmail's makemap for the compatibility tests
# and Postfix's smtp-source / smtp-sink test tools without installing sendmail or Postfix (no
# MTA is installed or started on the machine; the tools run from .build).
# Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    libdb5.3-dev db5.3-util        # Berkeley DB 5.3: maps and drac's database
    libcrypt-dev                   # crypt(3): SHA512-CRYPT, bcrypt, yescrypt password hashes
    libsystemd-dev pkg-config      # sd_notify, socket activation, the journal
    protobuf-compiler              # protoc, for Shared/IPC/generate.sh
    systemd                        # systemd-analyze verify, systemd-socket-activate
    systemd-container iproute2     # systemd-nspawn for the system test; ip (addresses inside it)
    fetchmail                      # a real POP3 client for the interop tests
    python3                        # poplib, the other POP3 client of the interop tests
    openssl                        # test certificates, password hashes for the local run
    dnsmasq-base                   # a real DNS server on loopback for the DNS tests
    swaks libio-socket-ssl-perl    # a real SMTP client (with STARTTLS) for the interop tests
    dovecot-pop3d                  # the benchmark's POP3 peer (bench/run.sh; never started as a service)
    python3-matplotlib             # the benchmark's plot
    patchelf                       # scripts/install.sh: binaries find the Swift runtime in /opt/mailstack/lib
    dpkg-dev lintian               # scripts/package.sh (dpkg-shlibdeps) and the package test's lintian
    publicsuffix                   # DMARC's organizational domains (/usr/share/publicsuffix/public_suffix_list.dat)
    python3-spf python3-dns        # pyspf, the independent SPF implementation of the SPF tests (pydns for its DNS)
    python3-dkim                   # dkimpy signs the messages of the inbound DKIM/DMARC scenario
    procmail mailutils             # mbox spools written by Debian's own tools for the import-mbox tests
    python3-dkim                   # dkimpy (dkimverify, dkimsign): an independent DKIM verifier and signer
    opendkim opendkim-tools        # OpenDKIM's filter (-t) and opendkim-testmsg: the other DKIM verifier (never started as a service)
    postgresql                     # PostgreSQL 15: the shared store of several hosts (the tests start their own server with initdb/pg_ctl, never the system cluster)
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Packages are tools here, not services: nothing they ship (Dovecot, dnsmasq) may start
    # and take ports on this machine (policy-rc.d(8) answering "denied" while they install).
    own_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
fi

# Debian packages whose tools the tests use without installing them (each depends on or is an
# MTA; none may be installed next to mailstack): unpacked with dpkg-deb -x into .build/NAME.
#   extract PACKAGE FILE-THAT-SAYS-IT-IS-THERE WHY
extract() {
    local package=$1 marker=$2
    [ -x ".build/$package/$marker" ] && return 0
    echo "install-deps: extracting $package ($3)"
    mkdir -p ".build/$package"
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download "$package" >/dev/null 2>&1 || { apt-get update -qq && apt-get download "$package" >/dev/null; })
    dpkg-deb -x "$tmp"/"${package}"_*.deb ".build/$package"
    rm -rf "$tmp"
}
extract sendmail-bin usr/sbin/makemap "sendmail's makemap, newaliases and praliases for the compatibility tests"
extract mlmmj usr/bin/mlmmj-receive "the mailing-list manager behind an alias in the aliases tests"
# Postfix's smtp-source (load client) and smtp-sink (test server); nothing listens on port 25.
# Run them through scripts/postfix-tool.
extract postfix usr/sbin/smtp-source "smtp-source and smtp-sink"
