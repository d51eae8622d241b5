#!/bin/bash
# Fuzz smoke: run every built libFuzzer target for a few seconds, each from its seed
# corpus (tests/fuzz/corpus/<target>/, when there is one) copied to a scratch folder.
# Targets run side by side, one per processor. A crash, leak or sanitizer report
# fails the run. `make fuzz-smoke` in a build
# configured with CC=clang --enable-fuzzers (scripts/fuzz-smoke.sh does all of it).
#   tests/fuzz/smoke.sh SRCDIR BUILDDIR [SECONDS]  (FUZZ_SECONDS: default 10)
set -uo pipefail

src=$1 build=$2 secs=${3:-${FUZZ_SECONDS:-10}}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0 n=0

# one target: its report in $work/NAME.out, its status in $work/NAME.rc
run_one() {
        local bin=$1 name corpus seeds edges runs rc=0
        name=$(basename "$bin")
        corpus=$work/$name
        mkdir -p "$corpus"
        if [ -d "$src/tests/fuzz/corpus/$name" ]; then
                cp -r "$src/tests/fuzz/corpus/$name/." "$corpus/"
        fi
        local dict=()
        [ -f "$src/tests/fuzz/dict/$name.dict" ] && dict=(-dict="$src/tests/fuzz/dict/$name.dict")
        seeds=$(find "$corpus" -type f | wc -l)
        # -timeout: one input may take at most 10 s; the outer timeout bounds the whole run
        timeout $((secs + 60)) "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
                -artifact_prefix="$work/$name-" -print_final_stats=1 "${dict[@]}" "$corpus" \
                >"$work/$name.log" 2>&1 || rc=$?
        if [ $rc -eq 0 ]; then
                edges=$(grep -o 'cov: [0-9]*' "$work/$name.log" | tail -1)
                runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$name.log" | grep -o '[0-9]*$')
                echo "ok   $name: ${secs}s, $seeds seeds, ${runs:-?} runs, ${edges:-cov: ?} edges" >"$work/$name.out"
        else
                {
                        echo "FAIL $name (exit $rc): log follows"
                        tail -60 "$work/$name.log"
                        for a in "$work/$name"-*; do
                                [ -f "$a" ] && { echo "  input ($a):"; od -c "$a" | head -20; }
                        done
                } >"$work/$name.out"
        fi
        echo $rc >"$work/$name.rc"
}

# as many targets at once as there are processors (each is one process)
par=$(nproc 2>/dev/null || echo 2)
names=()
for bin in "$build"/tests/fuzz/fuzz-*; do
        [ -x "$bin" ] && [ -f "$bin" ] || continue
        name=$(basename "$bin")
        case $name in *.o | *.log | *.trs) continue ;; esac
        n=$((n + 1))
        names+=("$name")
        while [ "$(jobs -rp | wc -l)" -ge "$par" ]; do
                wait -n
        done
        run_one "$bin" &
done
wait
for name in "${names[@]}"; do
        cat "$work/$name.out"
        [ "$(cat "$work/$name.rc" 2>/dev/null)" = 0 ] || fails=$((fails + 1))
done

if [ $n -eq 0 ]; then
        echo "fuzz-smoke: no fuzz targets in $build/tests/fuzz (configure with CC=clang --enable-fuzzers; make fuzz)"
        exit 1
fi
echo "fuzz-smoke: $n targets, $fails failed"
[ $fails -eq 0 ]
