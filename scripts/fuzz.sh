#!/usr/bin/env bash
# Runs fuzz targets for a time budget each, keeping every target's corpus between runs, and
# prints a summary table (executions, coverage, corpus, crashes).
#
#   scripts/fuzz.sh [-t SECONDS] [-j PARALLEL] [-o SUMMARY.md] [CRATE/TARGET ...]
#
#   -t  seconds per target (default 600)
#   -j  targets run at once (default 1; each is one process on one core)
#   -o  also write the summary table to this file
#   CRATE/TARGET  e.g. core/receipt_json or node/sync_messages; default: every target of
#       core/fuzz and node/fuzz
#
# Corpora are kept in <crate>/fuzz/corpus/<target> (not committed); a crash leaves its input
# in <crate>/fuzz/artifacts/<target>/ and makes the script exit with status 1 after every
# target has run. Logs go to target/fuzz-logs/. Needs cargo-fuzz (installed when missing) and
# a nightly toolchain if one is installed; without one, the stable toolchain is run with
# RUSTC_BOOTSTRAP=1, which lets it take the instrumentation flags cargo-fuzz passes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

seconds=600
parallel=1
summary=""
while getopts "t:j:o:h" opt; do
    case "$opt" in
        t) seconds=$OPTARG ;;
        j) parallel=$OPTARG ;;
        o) summary=$OPTARG ;;
        h)
            sed -n '2,17p' "$0"
            exit 0
            ;;
        *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
case "$seconds$parallel" in
    *[!0-9]*)
        echo "fuzz.sh: -t and -j take whole numbers" >&2
        exit 2
        ;;
esac

toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi
if ! cargo "${toolchain[@]}" fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for crate in core node; do
        for file in "$crate"/fuzz/fuzz_targets/*.rs; do
            targets+=("$crate/$(basename "$file" .rs)")
        done
    done
fi
for spec in "${targets[@]}"; do
    crate=${spec%%/*}
    target=${spec#*/}
    if [ "$crate" = "$spec" ] || [ ! -f "$crate/fuzz/fuzz_targets/$target.rs" ]; then
        echo "fuzz.sh: no fuzz target $spec (give CRATE/TARGET, e.g. core/receipt_json)" >&2
        exit 2
    fi
done

logs=$root/target/fuzz-logs
mkdir -p "$logs"

# Build each crate's targets once, so that parallel runs do not race to build.
for crate in $(printf '%s\n' "${targets[@]}" | cut -d/ -f1 | sort -u); do
    echo "== building $crate/fuzz" >&2
    (cd "$crate/fuzz" && cargo "${toolchain[@]}" fuzz build) >"$logs/build-$crate.log" 2>&1 || {
        tail -30 "$logs/build-$crate.log" >&2
        exit 1
    }
done

# Runs one target; its result line goes to $logs/<crate>-<target>.row.
run_one() {
    local crate=$1 target=$2
    local dir=$crate/fuzz log=$logs/$crate-$target.log
    local corpus=corpus/$target
    local seeds=()
    mkdir -p "$dir/$corpus"
    # Valid inputs are hard to reach from random bytes: seed from the golden vectors (read,
    # never written to).
    case "$crate/$target" in
        core/receipt_json | core/receipt_mutation | core/receipt_cache)
            seeds=(../tests/vectors/valid ../tests/vectors/invalid)
            ;;
        core/genesis_json)
            [ -f "$dir/$corpus/genesis.json" ] || cp core/tests/vectors/genesis.json "$dir/$corpus/"
            ;;
    esac
    local status=0
    (cd "$dir" && cargo "${toolchain[@]}" fuzz run "$target" "$corpus" "${seeds[@]}" -- \
        -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048) \
        >"$log" 2>&1 || status=$?
    local executions rate last cov ft size crash
    executions=$(grep -oE 'stat::number_of_executed_units: +[0-9]+' "$log" | tail -1 | awk '{print $2}')
    rate=$(grep -oE 'stat::average_exec_per_sec: +[0-9]+' "$log" | tail -1 | awk '{print $2}')
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    size=$(find "$dir/$corpus" -type f | wc -l)
    crash=none
    if [ "$status" -ne 0 ]; then
        crash=$(grep -o 'Test unit written to [^ ]*' "$log" | tail -1 | sed 's/Test unit written to //')
        crash="exit $status${crash:+: $dir/${crash#./}} (log: target/fuzz-logs/$crate-$target.log)"
    fi
    printf '| %s/%s | %s | %s | %s | %s | %s | %s | %s |\n' "$crate" "$target" "$seconds" \
        "${executions:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$size" "$crash" \
        >"$logs/$crate-$target.row"
    [ "$status" -eq 0 ]
}

failed=0
running=0
for spec in "${targets[@]}"; do
    echo "== $spec: ${seconds} s ($(date -u +%H:%M:%S))" >&2
    run_one "${spec%%/*}" "${spec#*/}" &
    running=$((running + 1))
    if [ "$running" -ge "$parallel" ]; then
        wait -n || failed=1
        running=$((running - 1))
    fi
done
while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
done

{
    echo "| target | seconds | executions | exec/s | coverage (cov) | features (ft) | corpus files | crashes |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|"
    for spec in "${targets[@]}"; do
        cat "$logs/${spec%%/*}-${spec#*/}.row"
    done
} | tee ${summary:+"$summary"}
exit "$failed"
