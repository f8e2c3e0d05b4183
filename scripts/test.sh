#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh Debian 12 machine: installs what it needs
# (Debian packages only), builds once, runs every test, and checks that generated files are
# up to date. Ends with swift test's closing line.
set -euo pipefail
cd "$(dirname "$0")/.."

# The tests' temporary folders (/tmp/ms-*, TestSupport.temporaryDirectory) go when the run ends,
# passed or failed: made after this marker, so another run's or a person's are left alone.
started=$(mktemp /tmp/mailstack-test-run.XXXXXX)
trap 'find /tmp -maxdepth 1 -name "ms-*" -newer "$started" -exec rm -rf {} + 2>/dev/null || true; rm -f "$started"' EXIT

scripts/install-deps.sh

echo "== build"
swift build --build-tests
scripts/link-services.sh .build/debug
# Release binaries for the benchmark harness's smoke run (Tests/ScenarioTests/BenchSmokeTests).
swift build -c release
export MAILSTACK_BENCH_BIN
MAILSTACK_BENCH_BIN=$(swift build -c release --show-bin-path)
scripts/link-services.sh "$MAILSTACK_BENCH_BIN"

echo "== generated files"
.build/debug/mailstack config-doc | diff -u docs/configuration.md - \
    || { echo "docs/configuration.md is stale: .build/debug/mailstack config-doc > docs/configuration.md"; exit 1; }
if [ "${MAILSTACK_CHECK_PROTO:-1}" = 1 ]; then
    Shared/IPC/generate.sh --check
fi

echo "== fuzz: every target, seed 1, 4000 runs (libFuzzer, AddressSanitizer; its own build in .build-fuzz)"
scripts/fuzz.sh --ci

echo "== tests"
# The whole-machine tests first and alone (systemd containers: the stack, the Debian package;
# mailstack, Postfix and Dovecot under load), then the rest in parallel: no test races a timer
# (the queue's clock is injected, waits are for events, deadlines only bound a broken build).
swift test --skip-build --filter "DeployTests|BenchSmokeTests"
swift test --skip-build --skip "DeployTests|BenchSmokeTests"
