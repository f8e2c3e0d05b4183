#!/usr/bin/env bash
# The README's "Moving from sendmail + qpopper + drac" procedure, in its order, on a fake seed
# host: OLD is the old host's root (etc/mail, etc/shadow, var/mail, users.map), NEW the new
# host's (created). BIN holds the mailstack binary. Run by Tests/ScenarioTests/MigrationTests.
#   migration-test.sh OLD NEW BIN
set -euo pipefail
OLD=$1 NEW=$2 BIN=$3
ms() { "$BIN/mailstack" "$@"; }
mkdir -p "$NEW/etc/mailstack" "$NEW/etc/mail" "$NEW/var/lib/mailstack" "$NEW/var/mail/mailstack"

echo "== 1. the configuration, from sendmail.mc"
ms import-mc "$OLD/etc/mail/sendmail.mc" -o "$NEW/etc/mailstack/mailstack.yaml"

echo "== 2. the maps, rebuilt from their sources (sendmail's .db files would also do as they are)"
for map in access virtusertable mailertable; do
    ms makemap hash "$NEW/etc/mail/$map" < "$OLD/etc/mail/$map"
done
cp "$OLD/etc/mail/virtuser-domains" "$NEW/etc/mail/virtuser-domains"

echo "== 3. the aliases"
cp "$OLD/etc/mail/aliases" "$NEW/etc/mail/aliases"
ms newaliases "$NEW/etc/mail/aliases"

echo "== 4. the POP3 users: qpopper checked /etc/shadow; pop3 reads the same hashes"
awk -F: '$2 ~ /^\$/ { print $1 ":{CRYPT}" $2 }' "$OLD/etc/shadow" > "$NEW/etc/mailstack/passwd"
chmod 640 "$NEW/etc/mailstack/passwd"

echo "== 5. drac: dracd.db is drac-registry's own format"
cp "$OLD/etc/mail/dracd.db" "$NEW/var/lib/mailstack/drac.db"

echo "== 6. the whole configuration, checked with the new host's paths"
ms check-config --quiet "$NEW/etc/mailstack/mailstack.yaml" \
    --set maps.access="$NEW/etc/mail/access.db" --set maps.virtusertable="$NEW/etc/mail/virtusertable.db" \
    --set maps.mailertable="$NEW/etc/mail/mailertable.db" --set maps.virtuser_domains="$NEW/etc/mail/virtuser-domains" \
    --set maps.aliases="$NEW/etc/mail/aliases" --set pop3.passwd_file="$NEW/etc/mailstack/passwd" \
    --set drac.database="$NEW/var/lib/mailstack/drac.db" --set queue.maildir_root="$NEW/var/mail/mailstack"

echo "== 7. the spools (sendmail and qpopper stopped): a dry run, then the import"
ms import-mbox --spool "$OLD/var/mail" --map "$OLD/users.map" --maildir-root "$NEW/var/mail/mailstack" --dry-run
ms import-mbox --spool "$OLD/var/mail" --map "$OLD/users.map" --maildir-root "$NEW/var/mail/mailstack"
# user2's spool was written by GNU mailutils (mboxrd), so it is imported on its own.
ms import-mbox --format mboxrd --maildir-root "$NEW/var/mail/mailstack" user2 "$OLD/var/mail/user2"
echo "== done"
