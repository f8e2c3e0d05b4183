#!/usr/bin/env bash
# The package test: scripts/package.sh builds mailstack's .deb from BIN_DIR, lintian judges it
# (an error fails; every warning must be one README lists), and a real systemd booted in a
# container installs it with dpkg as an administrator would: dpkg -i, mailstack.target enabled and
# started by postinst, mail over SMTP into a Maildir; the same .deb again as an upgrade (an edited
# conffile kept, its database rebuilt, the stack restarted); Debian's bsd-mailx installed next to it with
# apt (its "default-mta | mail-transport-agent" satisfied by mailstack, no other MTA pulled in);
# `mail` through /usr/sbin/sendmail when the build has the sendmail command; then dpkg -r (only
# conffiles left) and dpkg -P (nothing of the package left but the users' mail and the users).
#
# The container: systemd-nspawn over an overlay of the host's /. The system test's --volatile=yes
# mounts a tmpfs as / and binds the host's /usr into it read-only, so dpkg could not write
# /usr/lib/mailstack or /lib/systemd/system (/lib is /usr/lib on Debian 12); --volatile=overlay
# would make / writable but nspawn refuses it on the root directory ("not supported", as it
# refuses --volatile=no there). So the test mounts its own, in a mount namespace of its own
# (unshare): overlayfs with the host's / as the read-only lower layer and a tmpfs as the upper
# one, and boots nspawn on that. /usr, /etc and /var/lib/dpkg are writable inside; every write
# lands in the tmpfs and vanishes with the namespace when the container stops; the host's files
# and dpkg database are read (its installed libraries satisfy the package's Depends), never
# written, and no mount is ever made in the host's namespace. The lower layer is the root
# filesystem alone: /run, /tmp and the other mounts of the host are not in it. The container boots
# basic.target (services the host enables for multi-user.target stay down) with a private network;
# apt inside has no network: the .debs bsd-mailx needs are fetched on the host with apt-get download
# into a folder bound into the container. Leaves nothing behind on the host.
#
# usage: Tests/System/package-test.sh [BIN_DIR]   (default .build/debug)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(cd "${1:-$src/.build/debug}" && pwd)
name=mailstack-pkg-$$
scratch=$(mktemp -d /tmp/mailstack-package-test.XXXXXX)
mapfile -t services < "$src/deploy/services"
nspawn_pid=
leader=
lintian_pid=
# The lintian warnings README lists under "Installing from the package", with their reasons there.
allowed_warnings="initial-upload-closes-no-bugs no-manual-page systemd-service-file-refers-to-unusual-wantedby-target"

step() { echo "== $*"; }
fail() { echo "FAIL: $*"; dump; exit 1; }
inside() { nsenter --target "$leader" --all -r -w -- env DEBIAN_FRONTEND=noninteractive "$@"; }
dump() {
    [ -n "$leader" ] || return 0
    inside systemctl --no-pager status mailstack.target "${services[@]/#/mailstack-}" 2>&1 | tail -n 40 || true
    inside journalctl --no-pager -n 60 2>&1 | tail -n 60 || true
}
cleanup() {
    [ -z "$lintian_pid" ] || kill "$lintian_pid" 2>/dev/null || true
    if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        kill -TERM "$nspawn_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$nspawn_pid" 2>/dev/null || true
        wait "$nspawn_pid" 2>/dev/null || true
    fi
    # A container's systemd that had not finished booting ignores the power-off request and
    # outlives a killed nspawn: SIGKILL to the container's PID 1 ends every process in it.
    if [ -n "$leader" ] && kill -0 "$leader" 2>/dev/null; then
        kill -KILL "$leader" 2>/dev/null || true
    fi
    rm -rf "/run/systemd/nspawn/propagate/$name" "$scratch"
    for hierarchy in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
        # The killed processes leave their cgroups a moment later.
        for _ in $(seq 50); do
            [ -d "$hierarchy/$name" ] || break
            find "$hierarchy/$name" -depth -type d -exec rmdir {} + 2>/dev/null || sleep 0.1
        done
    done
}
trap cleanup EXIT
trap 'fail "command failed at line $LINENO"' ERR
# Waits up to 30 s for a shell condition inside the container.
wait_inside() { for _ in $(seq 300); do inside sh -c "$1" && return 0; sleep 0.1; done; return 1; }

step "building the package (scripts/package.sh --bin $bin, gzip -1)"
"$src/scripts/package.sh" --bin "$bin" --out "$scratch" --require-sendmail -Z gzip -z 1 > "$scratch/package.log" 2>&1 \
    || { cat "$scratch/package.log"; fail "scripts/package.sh"; }
deb=$(tail -n 1 "$scratch/package.log")
[ -f "$deb" ] || fail "no .deb: $(cat "$scratch/package.log")"
echo "$(basename "$deb"), $(du -h "$deb" | cut -f1)"
info=$(dpkg-deb --info "$deb")
for field in "Package: mailstack" "Provides: mail-transport-agent" "Conflicts: mail-transport-agent" "Replaces: mail-transport-agent"; do
    grep -q "^ $field\$" <<<"$info" || fail "dpkg-deb --info lacks '$field': $info"
done
# lintian takes half a minute: it runs while the container boots and installs.
lintian --pedantic "$deb" > "$scratch/lintian.log" 2>&1 &
lintian_pid=$!

step "booting systemd in a container over an overlay of the host's / ($name)"
mkdir -p "$scratch/debs/partial" "$scratch/layers"
(
    # nspawn makes payload/ and supervisor/ cgroups under its caller's: give it its own.
    for hierarchy in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
        if [ -d "$hierarchy" ] && mkdir "$hierarchy/$name" 2>/dev/null; then echo $BASHPID > "$hierarchy/$name/cgroup.procs"; fi
    done
    # unshare and sh exec: this process becomes systemd-nspawn, its mounts die with it.
    # shellcheck disable=SC2016
    exec unshare --mount --propagation private sh -euc '
        layers=$1; shift
        mount -t tmpfs -o mode=0755 mailstack-package-test "$layers"
        mkdir "$layers/upper" "$layers/work" "$layers/root"
        mount -t overlay -o "lowerdir=/,upperdir=$layers/upper,workdir=$layers/work" mailstack-package-test "$layers/root"
        exec systemd-nspawn --directory="$layers/root" "$@"' sh "$scratch/layers" \
        --quiet --machine="$name" --register=no --keep-unit --private-network --console=read-only \
        --bind="$scratch":/run/mailstack-package --bind-ro="$src":/run/mailstack-src \
        --boot -- systemd.firstboot=off systemd.unit=basic.target
) > "$scratch/console.log" 2>&1 &
nspawn_pid=$!
for _ in $(seq 300); do
    for child in $(pgrep -P "$nspawn_pid" 2>/dev/null); do
        [ "$(cat /proc/"$child"/comm 2>/dev/null)" = systemd ] && leader=$child
    done
    [ -n "$leader" ] && break
    kill -0 "$nspawn_pid" 2>/dev/null || { cat "$scratch/console.log"; fail "systemd-nspawn exited"; }
    sleep 0.1
done
[ -n "$leader" ] || fail "no systemd in the container"
state=
for _ in $(seq 100); do
    # The bus appears a moment after systemd itself; "offline" until systemd has set up /run.
    state=$(inside timeout 60 systemctl is-system-running --wait 2>/dev/null || true)
    [ -n "$state" ] && [ "$state" != offline ] && break
    sleep 0.2
done
case "$state" in running|degraded) echo "booted: $state" ;; *) fail "system state: $state" ;; esac
inside touch /usr/lib/.mailstack-writable && inside rm /usr/lib/.mailstack-writable || fail "/usr is not writable in the container"

step "a clean root: nothing of mailstack, no MTA, no policy-rc.d"
# The overlay shows the host's files: whatever an install on the host left (scripts/install.sh's
# /opt/mailstack and units in /etc) or a builder's temporary policy-rc.d (install-deps.sh) is
# removed inside only.
inside rm -rf /opt/mailstack /etc/mailstack /etc/mail /var/spool/mailstack /var/mail/mailstack /var/lib/mailstack \
    /etc/sysusers.d/mailstack.conf /etc/tmpfiles.d/mailstack.conf /usr/sbin/policy-rc.d
inside sh -c 'rm -rf /etc/systemd/system/mailstack*'
inside systemctl daemon-reload
mta=$(inside dpkg-query -W -f '${db:Status-Abbrev} ${Package} ${Provides}\n' 2>/dev/null | awk '/^ii/ && /mail-transport-agent/ {print $2}')
[ -z "$mta" ] || fail "the host has an MTA installed: $mta"
baseline=$(inside find /etc /usr /var -name '*mailstack*' 2>/dev/null | sort)

step "dpkg -i $(basename "$deb")"
inside dpkg -i "/run/mailstack-package/$(basename "$deb")" > "$scratch/dpkg-i.log" 2>&1 || { cat "$scratch/dpkg-i.log"; fail "dpkg -i"; }
sed 's/^/  /' "$scratch/dpkg-i.log"
status=$(inside dpkg-query -W -f '${Status}|${Version}|${Provides}' mailstack)
[ "$status" = "install ok installed|$(basename "$deb" | cut -d_ -f2)|mail-transport-agent" ] || fail "dpkg-query: $status"
echo "dpkg: $status"
[ "$(inside systemctl is-enabled mailstack.target)" = enabled ] || fail "mailstack.target is not enabled"
inside test -L /etc/systemd/system/multi-user.target.wants/mailstack.target || fail "mailstack.target is not wanted by multi-user.target"
echo "mailstack.target enabled (multi-user.target wants it)"
for user in mailstack-drac mailstack-policy mailstack-queue mailstack-feed mailstack-smtp mailstack-pop3 mailstack-local; do
    inside getent passwd "$user" > /dev/null || fail "postinst did not create $user"
done
[ "$(inside stat -c '%a %U %G' /var/spool/mailstack)" = "700 mailstack-queue mailstack-queue" ] || fail "/var/spool/mailstack"
[ "$(inside stat -c '%a %U %G' /var/mail/mailstack)" = "2770 mailstack-queue mailstack-mail" ] || fail "/var/mail/mailstack"
[ "$(inside stat -c '%a %G' /etc/mailstack/passwd)" = "640 mailstack-auth" ] || fail "/etc/mailstack/passwd"
for db in access virtusertable mailertable aliases; do
    inside test -s "/etc/mail/$db.db" || fail "postinst did not build /etc/mail/$db.db"
done
echo "users, spool, Maildir root, passwd-file and the maps' databases created"

step "mailstack.target: started by postinst; systemctl start mailstack.target"
wait_inside '[ "$(systemctl is-active mailstack.target)" = active ]' || fail "postinst did not start mailstack.target"
inside systemctl start mailstack.target
for unit in "${services[@]}"; do
    wait_inside "[ \"\$(systemctl is-active mailstack-$unit.service)\" = active ]" || fail "$unit.service is not active"
    [ "$(inside systemctl is-active "mailstack-$unit.socket")" = active ] || fail "$unit.socket is not active"
    [ "$(inside systemctl show -p FragmentPath --value "mailstack-$unit.service")" = "/lib/systemd/system/mailstack-$unit.service" ] \
        || fail "$unit.service is not the package's unit"
done
mailq=$(inside /usr/sbin/mailstack mailq)
[ "$mailq" = "Mail queue is empty" ] || fail "mailstack mailq: $mailq"
echo "all ${#services[@]} services and sockets active from /lib/systemd/system; /usr/sbin/mailstack mailq: $mailq"

step "a message over SMTP (port 25) lands in the Maildir"
inside sh -c 'echo "you:{PLAIN}secret1" >> /etc/mailstack/passwd; echo "user2:{PLAIN}secret2" >> /etc/mailstack/passwd'
sent=$(inside python3 /run/mailstack-src/Tests/System/mailflow.py send 25 sender@client.test you@domain1.com package-smtp)
python3 -c 'import json,sys; assert json.loads(sys.argv[1])["refused"] == {}' "$sent" || fail "refused: $sent"
wait_inside 'grep -qs "X-Seq: package-smtp" /var/mail/mailstack/you/new/*' || fail "the message is not in /var/mail/mailstack/you/new"
echo "delivered to /var/mail/mailstack/you/new"

step "an upgrade (the same .deb again): an edited conffile is kept, its database rebuilt, the stack restarted"
inside sh -c 'printf "198.51.100.7\tREJECT\n" >> /etc/mail/access'
before=$(inside systemctl show -p MainPID --value mailstack-queue.service)
inside dpkg -i "/run/mailstack-package/$(basename "$deb")" > "$scratch/dpkg-i2.log" 2>&1 || { cat "$scratch/dpkg-i2.log"; fail "dpkg -i again"; }
inside grep -q '^198.51.100.7' /etc/mail/access || fail "dpkg replaced the edited conffile /etc/mail/access"
inside /usr/sbin/mailstack makemap -u hash /etc/mail/access | grep -q '^198.51.100.7' || fail "postinst did not rebuild access.db"
wait_inside "[ \"\$(systemctl show -p MainPID --value mailstack-queue.service)\" != $before ] && [ \"\$(systemctl is-active mailstack-queue.service)\" = active ]" \
    || fail "the queue was not restarted"
for unit in "${services[@]}"; do
    wait_inside "[ \"\$(systemctl is-active mailstack-$unit.service)\" = active ]" || fail "$unit.service is not active after the upgrade"
done
echo "/etc/mail/access kept with its new line, access.db rebuilt with it, queue restarted ($before -> $(inside systemctl show -p MainPID --value mailstack-queue.service)), every service active"

step "Debian's bsd-mailx and mlmmj: their mail-transport-agent is mailstack"
inside apt-get install -s --no-install-recommends bsd-mailx mlmmj > "$scratch/apt-s.log" 2>&1 || { cat "$scratch/apt-s.log"; fail "apt-get -s"; }
wanted=$(awk '/^Inst / {print $2}' "$scratch/apt-s.log" | tr '\n' ' ')
grep -q '^Remv ' "$scratch/apt-s.log" && fail "apt would remove: $(grep '^Remv ' "$scratch/apt-s.log")"
grep -qw bsd-mailx <<<"$wanted" || fail "apt would not install bsd-mailx: $(cat "$scratch/apt-s.log")"
for package in $wanted; do
    # No package apt picks may be another MTA: its Conflicts would remove mailstack.
    provides=$(inside apt-cache show --no-all-versions "$package" | sed -n 's/^Provides: //p')
    grep -qw -e mail-transport-agent -e default-mta <<<"$provides" && fail "apt would install an MTA: $package"
done
echo "apt would install: $wanted(no MTA; bsd-mailx's default-mta | mail-transport-agent is satisfied)"
# The host fetches them (the container has no network); apt inside takes them from that folder only.
# shellcheck disable=SC2086
(cd "$scratch/debs" && apt-get download -o APT::Sandbox::User=root $wanted > "$scratch/download.log" 2>&1) \
    || { cat "$scratch/download.log"; fail "apt-get download on the host"; }
inside env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-download --no-install-recommends \
    -o Dir::Cache::Archives=/run/mailstack-package/debs/ bsd-mailx mlmmj \
    > "$scratch/apt.log" 2>&1 || { cat "$scratch/apt.log"; fail "apt-get install --no-download bsd-mailx mlmmj"; }
[ "$(inside dpkg-query -W -f '${Status}' bsd-mailx)" = "install ok installed" ] || fail "bsd-mailx is not installed"
[ "$(inside dpkg-query -W -f '${Status}' mlmmj)" = "install ok installed" ] || fail "mlmmj is not installed"
[ "$(inside dpkg-query -W -f '${Status}' mailstack)" = "install ok installed" ] || fail "mailstack is no longer installed"
echo "bsd-mailx installed with apt-get --no-download beside mailstack ($(inside dpkg-query -W -f '${Depends}' bsd-mailx))"

step "mail(1) through /usr/sbin/sendmail"
inside test -L /usr/sbin/sendmail || fail "no /usr/sbin/sendmail in the package"
inside sh -c 'echo "body of the package test" | mail -s "package test mail" you@domain1.com' || fail "mail(1)"
wait_inside 'grep -qs "Subject: package test mail" /var/mail/mailstack/you/new/*' || fail "mail(1)'s message is not in the Maildir"
echo "echo body | mail -s 'package test mail' you@domain1.com: delivered to /var/mail/mailstack/you/new"

step "the sendmail command as cron and friends use it: -t with Bcc, -f as another user, mailq and newaliases by name, the queue stopped"
inside sh -c 'printf "To: you@domain1.com\nBcc: user2@domain1.com\nSubject: cron-style -t\n\nfrom cron\n" | /usr/sbin/sendmail -t -oi' \
    || fail "sendmail -t"
wait_inside 'grep -qs "Subject: cron-style -t" /var/mail/mailstack/you/new/* && grep -qs "Subject: cron-style -t" /var/mail/mailstack/user2/new/*' \
    || fail "sendmail -t did not reach both To: and Bcc:"
inside sh -c 'grep -il "^bcc:" $(grep -ls "Subject: cron-style -t" /var/mail/mailstack/*/new/*)' && fail "a delivered copy kept its Bcc: header"
inside setpriv --reuid=65534 --regid=65534 --clear-groups sh -c 'echo forged | /usr/sbin/sendmail -f root@domain1.com you@domain1.com' \
    || fail "sendmail -f as nobody"
wait_inside 'grep -qs "X-Authentication-Warning: .*nobody set sender to root@domain1.com using -f" /var/mail/mailstack/you/new/*' \
    || fail "no X-Authentication-Warning for nobody's -f"
[ "$(inside /usr/bin/mailq)" = "Mail queue is empty" ] || fail "mailq: $(inside /usr/bin/mailq)"
inside /usr/bin/newaliases > /dev/null 2>&1 || fail "newaliases"
inside systemctl stop mailstack-queue.service mailstack-queue.socket mailstack-submit.socket
status=0
inside sh -c 'echo later | /usr/sbin/sendmail you@domain1.com' > /dev/null 2>&1 || status=$?
[ "$status" = 75 ] || fail "with the queue stopped sendmail exited $status, not 75 (EX_TEMPFAIL)"
inside systemctl start mailstack.target
echo "-t reached To: and Bcc: with no Bcc: left; nobody's -f got the warning; mailq and newaliases by name; 75 with the queue stopped"

step "dpkg -r mailstack: the stack stops, only conffiles stay"
inside dpkg -r bsd-mailx mlmmj > /dev/null 2>&1 || fail "dpkg -r bsd-mailx mlmmj"
inside dpkg -r mailstack > "$scratch/dpkg-r.log" 2>&1 || { cat "$scratch/dpkg-r.log"; fail "dpkg -r mailstack"; }
[ "$(inside dpkg-query -W -f '${Status}' mailstack)" = "deinstall ok config-files" ] || fail "status after dpkg -r"
for unit in "${services[@]}"; do
    state=$(inside systemctl is-active "mailstack-$unit.service" "mailstack-$unit.socket" || true)
    [ "$(sort -u <<<"$state")" = inactive ] || fail "mailstack-$unit after dpkg -r: $state"
done
inside sh -c 'pgrep -u mailstack-queue,mailstack-smtp,mailstack-pop3,mailstack-policy,mailstack-feed,mailstack-drac,mailstack-local' \
    && fail "mailstack processes left running"
conffiles=$(inside dpkg-query -W -f '${Conffiles}' mailstack | awk 'NF {print $1}' | sort)
[ "$conffiles" = "$(printf '%s\n' /etc/mail/access /etc/mail/aliases /etc/mail/mailertable /etc/mail/virtuser-domains /etc/mail/virtusertable /etc/mailstack/mailstack.yaml)" ] \
    || fail "conffiles: $conffiles"
for path in $conffiles; do inside test -f "$path" || fail "dpkg -r removed the conffile $path"; done
# What dpkg still lists for the package, and is there and no folder, must be a conffile.
# shellcheck disable=SC2046
present=$(inside sh -c 'for p; do [ -d "$p" ] || [ ! -e "$p" ] || echo "$p"; done' sh $(inside dpkg-query -L mailstack 2>/dev/null || true) | sort)
[ "$present" = "$conffiles" ] || fail "dpkg -r left files that are no conffiles: $(comm -23 <(echo "$present") <(echo "$conffiles"))"
for path in /usr/lib/mailstack /usr/sbin/mailstack /usr/lib/sysusers.d/mailstack.conf /usr/lib/tmpfiles.d/mailstack.conf; do
    inside test ! -e "$path" || fail "dpkg -r left $path"
done
inside sh -c 'ls /lib/systemd/system/mailstack* 2>/dev/null' && fail "dpkg -r left units in /lib/systemd/system"
echo "stopped; left: the conffiles $(tr '\n' ' ' <<<"$conffiles")and the state postinst made (maps' databases, passwd-file, spool, Maildirs)"

step "dpkg -P mailstack: nothing of the package left but the users' mail"
inside dpkg -P mailstack > "$scratch/dpkg-p.log" 2>&1 || { cat "$scratch/dpkg-p.log"; fail "dpkg -P mailstack"; }
sed 's/^/  /' "$scratch/dpkg-p.log"
grep -q "/var/mail/mailstack holds the users' mail: kept" "$scratch/dpkg-p.log" || fail "purge did not say it kept the Maildirs"
status=$(inside dpkg-query -W -f '${Status}' mailstack 2>/dev/null || true)
case "$status" in ""|"unknown ok not-installed") ;; *) fail "status after dpkg -P: $status" ;; esac
for path in /etc/mailstack /etc/mail /usr/lib/mailstack /var/spool/mailstack /var/lib/mailstack \
    /etc/systemd/system/multi-user.target.wants/mailstack.target; do
    inside test ! -e "$path" -a ! -L "$path" || fail "dpkg -P left $path"
done
inside sh -c 'ls /lib/systemd/system/mailstack* 2>/dev/null' && fail "dpkg -P left units in /lib/systemd/system"
left=$(comm -13 <(echo "$baseline") <(inside find /etc /usr /var -name '*mailstack*' 2>/dev/null | sort) | tr '\n' ' ')
[ "$left" = "/var/mail/mailstack " ] || fail "left after purge: $left"
inside sh -c 'grep -qs "X-Seq: package-smtp" /var/mail/mailstack/you/new/*' || fail "purge removed the users' mail"
inside getent passwd mailstack-queue > /dev/null || fail "purge removed the users (README says they stay)"
echo "left: /var/mail/mailstack (the users' mail, said on stderr) and the mailstack-* users and groups"

step "lintian"
wait "$lintian_pid" || true
lintian_pid=
grep -E '^[EWP]: ' "$scratch/lintian.log" | sort | uniq | sed 's/^/  /' || true
errors=$(grep -c '^E: ' "$scratch/lintian.log" || true)
[ "$errors" = 0 ] || fail "lintian: $errors error(s)"
unexpected=$(awk '/^W: / {print $3}' "$scratch/lintian.log" | sort -u | grep -vxF -f <(tr ' ' '\n' <<<"$allowed_warnings") || true)
[ -z "$unexpected" ] || fail "lintian warnings README does not list: $unexpected"
echo "lintian: no errors; warnings: $(awk '/^W: / {print $3}' "$scratch/lintian.log" | sort -u | tr '\n' ' ')"

step "powering off the container"
kill -TERM "$nspawn_pid"
for _ in $(seq 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$nspawn_pid" 2>/dev/null && fail "the container did not power off"
wait "$nspawn_pid" 2>/dev/null || true
nspawn_pid=
echo "PASS"
