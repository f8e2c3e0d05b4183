#!/usr/bin/env bash
# The benchmark: mailstack against Postfix (SMTP acceptance held, outbound) and Dovecot (POP3)
# on this machine, same run, same load generators, loopback only (bench/harness.py says what
# is measured). Writes bench/results/latest/{results.md,results.png,runs.json}.
#
#   bench/run.sh                 3 runs, full load (6-16 minutes on 2 cores, by machine)
#   bench/run.sh --runs 5        more runs
#   bench/run.sh --smoke DIR     1 run, tiny load, results in DIR (the test suite's check)
#
# BIN=DIR uses binaries already built there (default: a release build now). Needs root (Postfix
# and Dovecot run their daemons as their own users). Not a test: numbers, not pass/fail.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/results/latest
extra=(--runs 3)
if [ "${1:-}" = --smoke ]; then
    out=${2:?usage: bench/run.sh --smoke DIR}
    extra=(--runs 1 --messages 6 --pop3-messages 5 --login-seconds 0.3 --retr-rounds 1 --policy-requests 200 --dkim-iterations 5)
elif [ $# -gt 0 ]; then
    extra=("$@")
fi

scripts/install-deps.sh >/dev/null   # also Dovecot (never started as a service) and matplotlib
if [ -z "${BIN:-}" ]; then
    swift build -c release >/dev/null
    BIN=$(swift build -c release --show-bin-path)
fi
scripts/link-services.sh "$BIN"   # the services are roles of mailstack, started by their names
exec /usr/bin/python3 bench/harness.py --bin "$BIN" --out "$out" "${extra[@]}"
