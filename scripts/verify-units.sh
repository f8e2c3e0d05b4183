#!/usr/bin/env bash
# Checks every unit in deploy/systemd with `systemd-analyze verify`, failing on any output
# (verify exits 0 on warnings such as unknown keys or bad values). The units are staged by
# scripts/install.sh into a scratch root, and their ExecStart paths pointed into it, because
# verify refuses an ExecStart that does not exist.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$src/.build/debug}
scratch=$(mktemp -d /tmp/mailstack-units.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
"$src/scripts/install.sh" --root "$scratch/root" --bin "$bin" > "$scratch/install.log" 2>&1 \
    || { cat "$scratch/install.log"; echo "verify-units: scripts/install.sh --root failed"; exit 1; }
mkdir "$scratch/units"
for unit in "$scratch"/root/etc/systemd/system/*.{service,socket,target}; do
    sed "s|/opt/mailstack/bin/|$scratch/root/opt/mailstack/bin/|" "$unit" > "$scratch/units/$(basename "$unit")"
done
# The shared drop-in beside them: verify reads the units' folder as a unit path, drop-ins included.
cp -r "$scratch/root/etc/systemd/system/mailstack-.service.d" "$scratch/units/"
output=$(cd "$scratch/units" && SYSTEMD_UNIT_PATH="$scratch/units:" systemd-analyze verify "$scratch"/units/*.{service,socket,target} 2>&1) || status=$?
if [ -n "$output" ] || [ "${status:-0}" != 0 ]; then
    echo "$output" | sed "s|$scratch/units/|deploy/systemd/|g"
    echo "verify-units: systemd-analyze verify found problems (exit ${status:-0})"
    exit 1
fi
echo "verify-units: $(ls "$scratch"/units/*.{service,socket,target} | wc -l) units verified, no warnings"
