#!/bin/bash
# The fuzz targets' saved inputs, replayed in the normal test suite (no clang needed):
# for every target tests/fuzz/fuzz-NAME.c, tests/fuzz/replay-NAME (the target's
# LLVMFuzzerTestOneInput with a plain main, tests/fuzz/replay.c) runs once on each file
# of tests/fuzz/corpus/fuzz-NAME/ (the seed corpus) and tests/fuzz/regressions/fuzz-NAME/
# (every input that ever crashed or hung the target). An abort, a sanitizer report (in
# the sanitizer build) or a hang (REPLAY_TIMEOUT s per input) fails. A target without a
# seed corpus or without its replay program fails too, so a new target cannot be left out.
set -uo pipefail

src=${top_srcdir:?} build=${top_builddir:?}
fails=0 n=0

for c in "$src"/tests/fuzz/fuzz-*.c; do
        name=$(basename "$c" .c)
        short=${name#fuzz-}
        bin=$build/tests/fuzz/replay-$short
        corpus=$src/tests/fuzz/corpus/$name
        regress=$src/tests/fuzz/regressions/$name
        n=$((n + 1))
        if [ ! -x "$bin" ]; then
                echo "FAIL $name: no replay program $bin (register it in tests/local.mk)"
                fails=$((fails + 1))
                continue
        fi
        if [ ! -d "$corpus" ] || [ -z "$(find "$corpus" -type f -print -quit)" ]; then
                echo "FAIL $name: no seed corpus in tests/fuzz/corpus/$name/"
                fails=$((fails + 1))
                continue
        fi
        dirs=("$corpus")
        [ -d "$regress" ] && dirs+=("$regress")
        log=$(mktemp)
        if "$bin" "${dirs[@]}" >"$log" 2>&1; then
                echo "ok   $name: $(tail -1 "$log")"
        else
                echo "FAIL $name (exit $?): the last input named is the culprit"
                tail -40 "$log"
                fails=$((fails + 1))
        fi
        rm -f "$log"
done

if [ $n -eq 0 ]; then
        echo "fuzz-replay: no targets found in $src/tests/fuzz"
        exit 1
fi
echo "fuzz-replay: $n targets, $fails failed"
[ $fails -eq 0 ]
