#!/usr/bin/env bash
# Stops a Postfix started by bench/postfix/start.sh DIR.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)/.build/postfix"
export LD_LIBRARY_PATH="$root/usr/lib/postfix"
export MAIL_CONFIG="$1/etc"
"$root/usr/sbin/postfix" -c "$1/etc" stop || true
