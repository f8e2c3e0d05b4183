#!/usr/bin/env bash
# The seven services are roles of one executable, mailstack, started by their names: makes a
# link named after each service (deploy/services) to mailstack in each DIR given (a build
# directory, or an installed bin/ folder), as the package and scripts/install.sh install them.
#
#   scripts/link-services.sh DIR...
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 DIR..." >&2; exit 64; }
mapfile -t services < "$(dirname "$0")/../deploy/services"
for dir in "$@"; do
    [ -x "$dir/mailstack" ] || { echo "link-services: $dir/mailstack is not built" >&2; exit 66; }
    for s in "${services[@]}"; do ln -sfn mailstack "$dir/$s"; done
done
