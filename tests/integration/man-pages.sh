#!/usr/bin/env bash
# Man pages berthd(8) and berth(1): built from the programs' --help, they render
# without a warning and name every option the --help texts list; `make install`
# puts them and the bash completions in place; the completions offer the options.
. "$(dirname "$0")/lib.sh"
berth_require make groff bash
berth_tmpdir
b=$top_builddir

# render PAGE: plain text, overstrikes removed; groff warnings fail the test
render() {
        groff -man -Tascii -ww "$1" 2>"$TMP/groff.err" | sed 's/.\x08//g' >"$TMP/rendered" ||
                fail "groff $1"
        [ -s "$TMP/groff.err" ] && fail "groff warns on $1: $(cat "$TMP/groff.err")"
        [ "$(wc -l <"$TMP/rendered")" -gt 20 ] || fail "$1 renders to almost nothing"
}
# flags_in PAGE HELP-COMMAND...: every --flag the help prints is in the page
flags_in() {
        local page=$1 f n=0
        shift
        for f in $("$@" --help 2>&1 | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
                grep -q -- "$f" "$TMP/rendered" || fail "$page does not mention $f (from $* --help)"
                n=$((n + 1))
        done
        [ "$n" -gt 0 ] || fail "$* --help lists no option"
        echo "  $page: the $n options of $* --help"
}

step "berthd(8)"
[ -f "$b/man/berthd.8" ] || fail "$b/man/berthd.8 not built"
render "$b/man/berthd.8"
flags_in berthd.8 "$b/berthd"
flags_in berthd.8 "$b/berthd" user
flags_in berthd.8 "$b/berthd" gc
flags_in berthd.8 "$b/berthd" db
flags_in berthd.8 "$b/berthd" webhook
flags_in berthd.8 "$b/berthd" fsck
flags_in berthd.8 "$b/berthd" retention
grep -q 'READ-ONLY MODE' "$TMP/rendered" && grep -q 'restore SRC DATA' "$TMP/rendered" ||
        fail "no read-only mode or restore in berthd(8)"
grep -q 'X-Berth-Signature' "$TMP/rendered" || fail "no webhook signature in berthd(8)"
grep -q 'metrics-listen' "$TMP/rendered" || fail "no --metrics-listen in berthd(8)"
pass "renders without warnings, every option of berthd --help in it"

step "berth(1)"
[ -f "$b/man/berth.1" ] || fail "$b/man/berth.1 not built"
render "$b/man/berth.1"
flags_in berth.1 "$b/berth"
pass "renders without warnings, every option of berth --help in it"

step "make install"
ROOT=$TMP/root
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$b" install DESTDIR="$ROOT" \
        >"$TMP/install.log" 2>&1 || { tail -n 30 "$TMP/install.log" >&2; fail "make install"; }
for f in man/man8/berthd.8 man/man1/berth.1 bash-completion/completions/berthd \
         bash-completion/completions/berth; do
        [ -n "$(find "$ROOT" -path "*/share/$f" -type f)" ] || fail "make install put no share/$f"
done
pass "man pages and completions installed"

step "bash completion"
out=$(PATH="$b:$PATH" bash -c '
        . "$1/completion/berthd"
        COMP_WORDS=(berthd --metrics-l); COMP_CWORD=1; _berthd; echo "${COMPREPLY[*]}"
        COMP_WORDS=(berthd --log-format j); COMP_CWORD=2; _berthd; echo "${COMPREPLY[*]}"
        COMP_WORDS=(berthd us); COMP_CWORD=1; _berthd; echo "${COMPREPLY[*]}"
        . "$1/completion/berth"
        COMP_WORDS=(berth --pol); COMP_CWORD=1; _berth; echo "${COMPREPLY[*]}"
' _ "$top_srcdir") || fail "completion script failed"
[ "$out" = $'--metrics-listen\njson\nuser usage\n--policy' ] || fail "completions: $out"
pass "berthd and berth complete their options, values and subcommands"
