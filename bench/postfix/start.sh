#!/usr/bin/env bash
# Starts a Postfix instance for the benchmarks from the copy scripts/install-deps.sh unpacked in
# .build/postfix: its own configuration and queue under DIR, an SMTP listener on 127.0.0.1:PORT,
# and every message put on hold after its durable acceptance (smtpd's access action HOLD), so
# what is measured is accepting and storing, as for mailstack's queueonly queue.
# Usage: bench/postfix/start.sh DIR PORT [RELAYHOST]   (stop: bench/postfix/stop.sh DIR)
# RELAYHOST ([127.0.0.1]:port) is where released mail goes (the outbound benchmark).
# Needs root: creates the postfix user and postdrop group Postfix runs its daemons as.
set -euo pipefail
dir=$1
port=$2
relayhost=${3:-}
root="$(cd "$(dirname "$0")/../.." && pwd)/.build/postfix"
getent group postdrop >/dev/null || groupadd --system postdrop
getent passwd postfix >/dev/null || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postfix
mkdir -p "$dir/etc" "$dir/spool" "$dir/data"
chown postfix "$dir/data"
chmod 755 "$dir"
cat > "$dir/etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/data
command_directory = $root/usr/sbin
daemon_directory = $root/usr/lib/postfix/sbin
shlib_directory = $root/usr/lib/postfix
meta_directory = $root/etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.test
mydestination =
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
smtpd_client_restrictions = check_client_access static:HOLD
smtpd_relay_restrictions = permit_mynetworks, reject
message_size_limit = 5242880
smtpd_banner = \$myhostname ESMTP
relayhost = $relayhost
biff = no
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME LD_LIBRARY_PATH=$root/usr/lib/postfix
maillog_file_prefixes = $dir
maillog_file = $dir/maillog
CF
cat > "$dir/etc/master.cf" <<CF
127.0.0.1:$port inet n - n - - smtpd
pickup    unix n - n 60 1 pickup
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
smtp      unix - - n - - smtp
relay     unix - - n - - smtp
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
CF
export LD_LIBRARY_PATH="$root/usr/lib/postfix"
export MAIL_CONFIG="$dir/etc"
"$root/usr/sbin/postfix" -c "$dir/etc" check
"$root/usr/sbin/postfix" -c "$dir/etc" start
