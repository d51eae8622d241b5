#!/bin/bash
# A fuzzing campaign: every target in turn (one at a time, niced), each from a copy of
# its committed corpus with its dictionary, for an equal share of the time left until
# an end time; then what the run added is minimized (-merge=1) into
# tests/fuzz/corpus/<target>/ (the inputs already there stay). Per target it
# prints one line: wall seconds, CPU seconds the fuzzer got (on a shared machine a
# niced fuzzer gets less than its wall time), executions, edges (libFuzzer's final
# stats), corpus size before and after, and any crash or hang (kept in
# OUT/<target>-crash-* etc.).
# Add the lines to tests/fuzz/CAMPAIGN.md so sessions accumulate.
#   tests/fuzz/campaign.sh SRCDIR BUILDDIR END OUT [TARGET[=SECONDS]...]
#   e.g. tests/fuzz/campaign.sh . build-fuzz 15:45 /tmp/campaign   (END: `date -d` syntax)
# TARGET=SECONDS asks for that many seconds of fuzzing for the target (what it lacks of
# its total), capped by its share of the time left.
set -uo pipefail

src=$(cd "$1" && pwd) build=$(cd "$2" && pwd) end=$(date -d "$3" +%s) out=$4
shift 4
mkdir -p "$out"
out=$(cd "$out" && pwd)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
        for bin in "$build"/tests/fuzz/fuzz-*; do
                [ -x "$bin" ] && [ -f "$bin" ] && targets+=("$(basename "$bin")")
        done
fi

merge() { # target corpus grown: add to corpus the grown inputs that reach new features
        local name=$1 corpus=$2 grown=$3
        # -merge=1 keeps every file of the first folder (the committed, already minimal
        # corpus with its named seeds) and copies in the fewest of the others that add
        # coverage, under their sha1 names
        nice -n 19 "$build/tests/fuzz/$name" -merge=1 -timeout=10 -rss_limit_mb=2048 \
                "$corpus" "$grown" >"$out/$name.merge.log" 2>&1 ||
                echo "merge of $name failed (see $out/$name.merge.log)"
}

left=${#targets[@]}
for spec in "${targets[@]}"; do
        name=${spec%%=*} want=
        [ "$name" != "$spec" ] && want=${spec#*=}
        bin=$build/tests/fuzz/$name
        corpus=$src/tests/fuzz/corpus/$name
        now=$(date +%s)
        # the merge takes a little of each share
        share=$(((end - now) / left - 20))
        left=$((left - 1))
        [ -n "$want" ] && [ "$want" -lt "$share" ] && share=$want
        [ $share -lt 10 ] && { echo "$name: no time left"; continue; }
        grown=$out/$name.corpus
        rm -rf "$grown"
        mkdir -p "$grown"
        cp -r "$corpus/." "$grown/"
        before=$(find "$corpus" -type f | wc -l)
        dict=()
        [ -f "$src/tests/fuzz/dict/$name.dict" ] && dict=(-dict="$src/tests/fuzz/dict/$name.dict")
        start=$(date +%s) runs=0 edges=0 found="" cpu=0
        # a crash ends libFuzzer's run: keep the input and go on for the rest of the share
        for attempt in 1 2 3; do
                rest=$((start + share - $(date +%s)))
                [ $rest -lt 5 ] && break
                log=$out/$name.$attempt.log
                (cd "$out" && /usr/bin/time -f '%U %S' -o "$log.cpu" nice -n 19 "$bin" \
                        -max_total_time=$rest -timeout=10 \
                        -rss_limit_mb=2048 -artifact_prefix="$out/$name-" \
                        -print_final_stats=1 "${dict[@]}" "$grown" >"$log" 2>&1)
                rc=$?
                cpu=$(awk -v c="$cpu" '/^[0-9.]+ [0-9.]+$/ { c += $1 + $2 } END { printf "%d", c }' "$log.cpu")
                r=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
                e=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
                runs=$((runs + ${r:-0}))
                [ "${e:-0}" -gt "$edges" ] && edges=$e
                [ $rc -eq 0 ] && break
                found="$found exit $rc (see $log);"
        done
        wall=$(($(date +%s) - start))
        merge "$name" "$corpus" "$grown"
        after=$(find "$corpus" -type f | wc -l)
        echo "$name: ${wall}s (${cpu}s CPU), $runs runs, $edges edges, corpus $before -> $after files, $(du -sk "$corpus" | cut -f1) KB${found:+, found:$found}"
done
