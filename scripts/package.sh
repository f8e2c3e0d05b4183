#!/usr/bin/env bash
# Builds the Debian package mailstack_<version>_<arch>.deb with dpkg-deb (no debian/ source tree,
# no debhelper: the files are laid out here and the maintainer scripts are in deploy/debian).
#
#   scripts/package.sh                      build (release) and package into .build/package/
#   scripts/package.sh --bin DIR            package binaries already built in DIR (.build/release, .build/debug)
#   scripts/package.sh --out DIR            write the .deb into DIR
#   scripts/package.sh --require-sendmail   fail when DIR has no sendmail executable
#   scripts/package.sh -Z TYPE -z LEVEL      dpkg-deb's compression: xz (Debian's) by default; the
#                                           tests take -Z gzip -z 1 (seconds instead of minutes on
#                                           debug binaries; lintian refuses zstd members)
#
# Prints the path of the .deb on its last line. The version is the file VERSION (upstream) with
# the packaging revision below: 0.1.0 -> 0.1.0-1. Contents:
#   /usr/lib/mailstack/bin      mailstack, the daemons (deploy/services: links to it), sendmail (when built)
#   /usr/lib/mailstack/lib      the Swift runtime they need (their RPATH: scripts/stage-binaries.sh)
#   /usr/sbin/mailstack         -> the admin tool
#   /usr/sbin/sendmail, /usr/lib/sendmail, /usr/bin/mailq, /usr/bin/newaliases -> sendmail
#   /lib/systemd/system         mailstack.target, mailstack-*.service/.socket, mailstack-.service.d/
#   /usr/lib/sysusers.d/mailstack.conf, /usr/lib/tmpfiles.d/mailstack.conf
#   /etc/mailstack/mailstack.yaml, /etc/mail/{access,virtusertable,mailertable,virtuser-domains,aliases}
#                               conffiles (the seed's sample configuration)
#   /usr/share/doc/mailstack    copyright, changelog.Debian.gz, README.md.gz, configuration.md.gz
#   /usr/share/lintian/overrides/mailstack   the one lintian error left, with its reason
# and deploy/debian's postinst, prerm and postrm (what they do: README, "Installing from the
# package"). Depends is computed by dpkg-shlibdeps from the binaries and libraries, plus systemd
# (the units, systemd-sysusers and systemd-tmpfiles in postinst). Without a sendmail executable
# the package still says Provides: mail-transport-agent but lacks /usr/sbin/sendmail, which
# Debian Policy 11.6 asks of an MTA: a package to install anywhere is built with --require-sendmail.
set -euo pipefail
umask 022
src=$(cd "$(dirname "$0")/.." && pwd)
# The packaging revision: bumped when the package changes and VERSION does not.
revision=1
maintainer="mailstack maintainers <maintainers@users.noreply.r-seed-01a39ec9.example>"
bin= out=$src/.build/package require_sendmail= compression=xz level=
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --require-sendmail) require_sendmail=1; shift ;;
        -Z) compression=$2; shift 2 ;;
        -z) level=$2; shift 2 ;;
        *) echo "usage: $0 [--bin DIR] [--out DIR] [--require-sendmail] [-Z gzip|xz|none] [-z LEVEL]" >&2; exit 64 ;;
    esac
done
for tool in dpkg-deb dpkg-shlibdeps patchelf; do
    command -v "$tool" > /dev/null || { echo "package: $tool is needed (scripts/install-deps.sh)" >&2; exit 69; }
done
mapfile -t services < "$src/deploy/services"

if [ -z "$bin" ]; then
    echo "== building (release)"
    (cd "$src" && swift build -c release > /dev/null)
    bin=$(cd "$src" && swift build -c release --show-bin-path)
fi
bin=$(cd "$bin" && pwd)
executables=(mailstack)
if [ -x "$bin/sendmail" ]; then
    executables+=(sendmail)
elif [ -n "$require_sendmail" ]; then
    echo "package: $bin has no sendmail executable (--require-sendmail): build it (swift build --product sendmail) first" >&2
    exit 1
else
    echo "package: note: $bin has no sendmail executable: the package has no /usr/sbin/sendmail, mailq or newaliases (Policy 11.6 wants them of a mail-transport-agent)" >&2
fi

upstream=$(tr -d '[:space:]' < "$src/VERSION")
[[ $upstream =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || { echo "package: VERSION is no Debian upstream version: '$upstream'" >&2; exit 1; }
version=$upstream-$revision
arch=$(dpkg --print-architecture)
# One date for every file and the changelog: the commit's (the same tree packs the same way).
epoch=$(git -C "$src" log -1 --format=%ct 2> /dev/null || stat -c %Y "$src/VERSION")
commit=$(git -C "$src" rev-parse --short HEAD 2> /dev/null || echo unknown)
work=$(mktemp -d /tmp/mailstack-package.XXXXXX)
trap 'rm -rf "$work"' EXIT
# debian/<package>/ is where dpkg-shlibdeps looks for the package's own libraries.
root=$work/debian/mailstack

echo "== binaries -> /usr/lib/mailstack/bin, Swift runtime -> /usr/lib/mailstack/lib"
"$src/scripts/stage-binaries.sh" "$bin" "$root/usr/lib/mailstack" /usr/lib/mailstack "${executables[@]}"
"$src/scripts/link-services.sh" "$root/usr/lib/mailstack/bin"   # the daemons: mailstack by their names
install -d -m 0755 "$root/usr/sbin"
ln -s ../lib/mailstack/bin/mailstack "$root/usr/sbin/mailstack"
if [ -e "$root/usr/lib/mailstack/bin/sendmail" ]; then
    install -d -m 0755 "$root/usr/bin"
    # As Debian's MTAs: sendmail in /usr/sbin (Policy 11.6), /usr/lib/sendmail for old scripts,
    # mailq and newaliases by name (sendmail looks at its argv[0]).
    ln -s ../lib/mailstack/bin/sendmail "$root/usr/sbin/sendmail"
    ln -s ../sbin/sendmail "$root/usr/lib/sendmail"
    ln -s ../sbin/sendmail "$root/usr/bin/mailq"
    ln -s ../sbin/sendmail "$root/usr/bin/newaliases"
fi

echo "== units -> /lib/systemd/system, sysusers.d, tmpfiles.d"
install -d -m 0755 "$root/lib/systemd/system/mailstack-.service.d" "$root/usr/lib/sysusers.d" "$root/usr/lib/tmpfiles.d"
for unit in "$src"/deploy/systemd/*.{service,socket,target} "$src"/deploy/systemd/mailstack-.service.d/*.conf; do
    sed -e 's|/opt/mailstack/bin/|/usr/lib/mailstack/bin/|' \
        -e 's|file:///opt/mailstack/share/README.md|file:///usr/share/doc/mailstack/README.md.gz|' \
        "$unit" > "$root/lib/systemd/system/${unit#"$src"/deploy/systemd/}"
done
grep -rl /opt/mailstack "$root/lib/systemd/system" && { echo "package: a unit still names /opt/mailstack" >&2; exit 1; }
install -m 0644 "$src/deploy/sysusers.d/mailstack.conf" "$root/usr/lib/sysusers.d/mailstack.conf"
install -m 0644 "$src/deploy/tmpfiles.d/mailstack.conf" "$root/usr/lib/tmpfiles.d/mailstack.conf"

echo "== sample configuration -> /etc/mailstack, /etc/mail (conffiles)"
install -d -m 0755 "$root/etc/mailstack" "$root/etc/mail"
install -m 0644 "$src/etc/mailstack.yaml" "$root/etc/mailstack/mailstack.yaml"
for map in access virtusertable mailertable virtuser-domains aliases; do
    install -m 0644 "$src/etc/mail/$map" "$root/etc/mail/$map"
done

echo "== documentation -> /usr/share/doc/mailstack"
doc=$root/usr/share/doc/mailstack
install -d -m 0755 "$doc"
install -m 0644 "$src/deploy/debian/copyright" "$doc/copyright"
install -d -m 0755 "$root/usr/share/lintian/overrides"
install -m 0644 "$src/deploy/debian/lintian-overrides" "$root/usr/share/lintian/overrides/mailstack"
gzip -9n < "$src/README.md" > "$doc/README.md.gz"
gzip -9n < "$src/docs/configuration.md" > "$doc/configuration.md.gz"
{
    echo "mailstack ($version) unstable; urgency=medium"
    echo
    echo "  * Built by scripts/package.sh from commit $commit (VERSION $upstream)."
    echo
    echo " -- $maintainer  $(LC_ALL=C date -u -R -d "@$epoch")"
} | gzip -9n > "$doc/changelog.Debian.gz"
chmod 0644 "$doc"/*.gz

echo "== control files"
install -d -m 0755 "$root/DEBIAN"
install -m 0755 "$src/deploy/debian/prerm" "$src/deploy/debian/postrm" "$root/DEBIAN/"
sed "s|@SERVICES@|$(printf 'mailstack-%s.service ' "${services[@]}" | sed 's/ $//')|" "$src/deploy/debian/postinst" > "$root/DEBIAN/postinst"
chmod 0755 "$root/DEBIAN/postinst"
(cd "$root" && find etc -type f | sort | sed 's|^|/|') > "$root/DEBIAN/conffiles"
# dpkg-shlibdeps reads debian/control; its warnings about the Swift runtime's unversioned names
# (libswiftCore.so: shipped here, no package to depend on) are expected.
printf 'Source: mailstack\n\nPackage: mailstack\nArchitecture: %s\n' "$arch" > "$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O debian/mailstack/usr/lib/mailstack/bin/* debian/mailstack/usr/lib/mailstack/lib/* 2> "$work/shlibdeps.log") \
    || { cat "$work/shlibdeps.log" >&2; echo "package: dpkg-shlibdeps failed" >&2; exit 1; }
# systemd 247: ProtectProc= in the shared drop-in (Debian 12 has 252).
depends="${shlibs#shlibs:Depends=}, systemd (>= 247)"
# Packed relative relocations (Package.swift links with -z pack-relative-relocs) need glibc 2.36's
# GLIBC_ABI_DT_RELR, a version node that dpkg-shlibdeps does not turn into a dependency.
if readelf -V "$root"/usr/lib/mailstack/bin/* | grep GLIBC_ABI_DT_RELR > /dev/null \
    && [[ $depends =~ libc6\ \(\>=\ ([^\)]+)\) ]] && dpkg --compare-versions "${BASH_REMATCH[1]}" lt 2.36; then
    depends=${depends/"libc6 (>= ${BASH_REMATCH[1]})"/"libc6 (>= 2.36)"}
fi
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$maintainer|" \
    -e "s|@INSTALLED_SIZE@|$size|" -e "s|@DEPENDS@|$depends|" "$src/deploy/debian/control" > "$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root"/DEBIAN/{control,conffiles,md5sums}
find "$root" -exec touch -h -d "@$epoch" {} +

mkdir -p "$out"
deb=$(cd "$out" && pwd)/mailstack_${version}_${arch}.deb
echo "== dpkg-deb ($compression${level:+ -$level}) -> $deb"
SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Z"$compression" ${level:+-z"$level"} --build "$root" "$deb" > /dev/null
echo "$deb"
