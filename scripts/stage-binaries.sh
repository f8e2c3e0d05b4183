#!/usr/bin/env bash
# Stages mailstack's binaries with the Swift runtime libraries they need, for scripts/install.sh
# (PREFIX /opt/mailstack) and scripts/package.sh (PREFIX /usr/lib/mailstack): each NAME is
# copied from BIN into DEST/bin and stripped; every library ldd finds outside the system's own
# folders (the toolchain's runtime: libswiftCore, Foundation, dispatch, ICU) is copied once into
# DEST/lib; the RPATH of all of them is set to PREFIX/lib, where DEST will be at run time. So no
# toolchain is needed at run time, and the services share one copy of the runtime in memory.
#
#   scripts/stage-binaries.sh BIN DEST PREFIX NAME...
#
# Symbols and compiler notes go too (strip --strip-unneeded --remove-section=.comment): nothing
# reads them at run time (the units turn Swift's backtracer off), and a package does not ship them
# (lintian's unstripped-binary-or-object, binary-has-unneeded-section).
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 BIN DEST PREFIX NAME..." >&2; exit 64; }
bin=$1 dest=$2 prefix=$3
shift 3
command -v patchelf >/dev/null || { echo "stage-binaries: patchelf is needed (apt-get install patchelf)" >&2; exit 69; }
install -d -m 0755 "$dest/bin" "$dest/lib"
for b in "$@"; do
    install -m 0755 "$bin/$b" "$dest/bin/$b"
    strip --strip-unneeded --remove-section=.comment "$dest/bin/$b"
    ldd "$bin/$b" | while read -r _ arrow path _; do
        [ "$arrow" = "=>" ] || continue
        case "$path" in /lib/*|/lib64/*|/usr/lib/*) continue ;; esac
        if [ ! -e "$dest/lib/$(basename "$path")" ]; then
            install -m 0644 "$path" "$dest/lib/"
            strip --strip-unneeded --remove-section=.comment "$dest/lib/$(basename "$path")"
        fi
    done
    patchelf --set-rpath "$prefix/lib" "$dest/bin/$b"
done
for lib in "$dest"/lib/*.so*; do patchelf --set-rpath "$prefix/lib" "$lib"; done
