#!/usr/bin/env bash
# Fuzzes mailstack's parsers of outside input with libFuzzer and AddressSanitizer.
#
#     scripts/fuzz.sh [TARGET|all] [SECONDS]     default: every target, 600 s each
#     scripts/fuzz.sh --ci                       what scripts/test.sh runs: every target, seed 1, 4000 runs
#
# Builds `mailstack-fuzz` into .build-fuzz (-sanitize=fuzzer,address, -DFUZZING), then runs each
# target on its seed corpus (Fuzz/corpus/TARGET) and its regressions (Fuzz/regressions/TARGET).
# New corpus entries go to a scratch folder ($MAILSTACK_FUZZ_WORK, default .build-fuzz/corpus/),
# never into the repository; a crash or property violation is written to
# Fuzz/crashes/TARGET/crash-<sha1> and the script fails. Replay one with
# `.build/debug/mailstack-fuzz TARGET FILE` (normal build) and, once fixed, move it into
# Fuzz/regressions/TARGET/ (see README, "Fuzzing").
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:-all}
seconds=${2:-600}
ci=
if [ "$target" = --ci ]; then
    # The same inputs on every machine: a fixed seed and a fixed number of runs (cut by time
    # on a slow machine, which then covers a prefix of the same sequence), so CI never fails on
    # a finding it happened upon; new findings come from long runs.
    ci=1
    target=all
    seconds=${MAILSTACK_FUZZ_CI_SECONDS:-20}
    if [ -z "${MAILSTACK_FUZZ_WORK:-}" ]; then
        MAILSTACK_FUZZ_WORK=$(mktemp -d)
        trap 'rm -rf "$MAILSTACK_FUZZ_WORK"' EXIT
    fi
fi

swift build --scratch-path .build-fuzz -c debug --product mailstack-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
bin=.build-fuzz/debug/mailstack-fuzz
if [ "$target" = all ]; then
    mapfile -t targets < <("$bin" --list)
else
    targets=("$target")
fi

work=${MAILSTACK_FUZZ_WORK:-.build-fuzz/corpus}
# Swift's runtime keeps allocations alive on purpose (metadata caches): leak reports are noise.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
# A violated property is a fatalError: let libFuzzer catch the signal (Swift's own backtracer
# and AddressSanitizer trip over each other).
export SWIFT_BACKTRACE=enable=no
failed=()
for t in "${targets[@]}"; do
    mkdir -p "$work/$t" "Fuzz/crashes/$t"
    corpora=("$work/$t" "Fuzz/corpus/$t")
    [ -d "Fuzz/regressions/$t" ] && corpora+=("Fuzz/regressions/$t")
    echo "== fuzz $t (${seconds}s)"
    limits=(-max_total_time="$seconds")
    [ -n "$ci" ] && limits+=(-seed=1 -runs="${MAILSTACK_FUZZ_CI_RUNS:-4000}")
    if ! "$bin" "$t" "${limits[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="Fuzz/crashes/$t/" "${corpora[@]}" > "$work/$t.log" 2>&1; then
        failed+=("$t")
        grep -E "fuzz property violated|ERROR: AddressSanitizer|Fatal error|Test unit written|SUMMARY" "$work/$t.log" | head -n 8 || true
        echo "   full log: $work/$t.log"
    fi
    grep -E "^stat::number_of_executed_units|^stat::new_units_added" "$work/$t.log" | tr '\n' ' ' || true
    echo
    rmdir "Fuzz/crashes/$t" 2>/dev/null || true
done
if ((${#failed[@]})); then
    echo "fuzz: crashes in ${failed[*]} (inputs in Fuzz/crashes/)"
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no crash"
