#!/usr/bin/env bash
# libberth as a program outside the tree uses it: `make install DESTDIR=...`, then a
# small C program compiled and linked against the installed library with
# `pkg-config --cflags --libs berth` normalizes a reference and prints the decision
# (struct and JSON) for a store that does not exist yet (no network); the installed
# libberth.so exports only berth_ symbols, every function of <berth/berth.h> among them;
# no internal library is installed and the berth CLI does not need libberth.so.
. "$(dirname "$0")/lib.sh"
berth_require make pkg-config nm readelf
berth_tmpdir

mkvar() { sed -n "s/^$1 = //p" "$top_builddir/Makefile" | head -n 1; }
CC=$(mkvar CC)
CFLAGS=$(mkvar CFLAGS)     # the build's own (sanitizer flags included)
LDFLAGS=$(mkvar LDFLAGS)
ROOT=$TMP/root

step "make install DESTDIR=..."
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$top_builddir" install DESTDIR="$ROOT" \
        >"$TMP/install.log" 2>&1 || { tail -n 30 "$TMP/install.log" >&2; fail "make install"; }
pc=$(find "$ROOT" -name berth.pc -path '*/pkgconfig/*')
[ -n "$pc" ] || fail "no berth.pc installed"
so=$(find "$ROOT" -name 'libberth.so.*.*.*' -type f)
[ -n "$so" ] && [ "$(echo "$so" | wc -l)" -eq 1 ] || fail "not exactly one libberth.so.X.Y.Z installed: $so"
libdir=$(dirname "$so")
[ -L "$libdir/libberth.so" ] || fail "no libberth.so development link in $libdir"
[ "$(dirname "$pc")" = "$libdir/pkgconfig" ] || fail "berth.pc is not in $libdir/pkgconfig: $pc"
hdr=$(find "$ROOT" -path '*/include/berth/berth.h')
[ -n "$hdr" ] || fail "<berth/berth.h> not installed"
[ -f "$(dirname "$hdr")/common/err.h" ] || fail "<berth/common/err.h>, which berth.h includes, not installed"
internal=$(find "$ROOT" \( -name 'libcommon*' -o -name 'libstore*' -o -name 'libauth*' -o -name 'libberthcore*' \
        -o -name 'libberthapi*' \) -print)
[ -z "$internal" ] || fail "internal libraries installed: $internal"
bin=$(find "$ROOT" -path '*/bin/berth' -type f)
[ -n "$bin" ] || fail "berth not installed"
readelf -d "$bin" | grep -q 'libberth' && fail "the berth CLI needs libberth.so at run time"
readelf -d "$so" | grep -q 'SONAME.*\[libberth\.so\.[0-9]*\]' || fail "no libberth.so.N soname: $(readelf -d "$so" | grep SONAME)"
pass "installed: ${so#"$ROOT"}, ${pc#"$ROOT"}, ${hdr#"$ROOT"}"

step "a program built with pkg-config --cflags --libs berth"
cat >"$TMP/prog.c" <<'PROG'
#include <stdio.h>
#include <stdlib.h>
#include <berth/berth.h>

int main(int argc, char **argv) {
        berth_client_t *c = NULL;
        berth_decision_t *d = NULL;
        char *json = NULL;
        int r, st;

        if (argc != 3)
                return 2;
        r = berth_client_new(argv[1], &c);
        if (r < 0) {
                fprintf(stderr, "berth_client_new: %s\n", berth_strerror(r));
                return 1;
        }
        if (berth_client_set_pull_policy(c, BERTH_POLICY_NEVER) < 0)
                return 1;
        st = berth_decide(c, argv[2], &d);
        if (st == BERTH_STATUS_ERROR)
                return 1;
        printf("version %s\n", berth_version());
        printf("decision %s %s %s %s\n", berth_status_name(d->status), d->reference,
               berth_policy_name(d->policy), d->action == BERTH_ACTION_ERROR ? "error" : "go");
        d = berth_decision_free(d);
        if (berth_plan(c, argv[2], &json) != st)
                return 1;
        printf("%s\n", json);
        free(json);
        printf("error %s\n", berth_strerror(BERTH_EUNAVAILABLE));
        berth_client_free(c);
        return st;
}
PROG
export PKG_CONFIG_PATH=$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$ROOT
cflags=$(pkg-config --cflags berth) || fail "pkg-config --cflags berth"
libs=$(pkg-config --libs berth) || fail "pkg-config --libs berth"
grep -q -- "-L$libdir" <<<"$libs" || fail "pkg-config --libs does not point into the install: $libs"
[ "$(pkg-config --modversion berth)" = "$(mkvar PACKAGE_VERSION)" ] || fail "berth.pc version"
# shellcheck disable=SC2086
$CC $CFLAGS -std=c99 -Wall -Wextra -pedantic -Werror $cflags "$TMP/prog.c" -o "$TMP/prog" $LDFLAGS $libs \
        2>"$TMP/cc.log" || { cat "$TMP/cc.log" >&2; fail "compiling against the installed library"; }
ldd_out=$(LD_LIBRARY_PATH=$libdir ldd "$TMP/prog")
grep -q "libberth.so.[0-9]* => $libdir/" <<<"$ldd_out" || fail "prog does not load the installed libberth.so: $ldd_out"
store=$TMP/no/such/store
rc=0
out=$(LD_LIBRARY_PATH=$libdir "$TMP/prog" "$store" nginx:1.25) || rc=$?
echo "$out"
[ "$rc" -eq 11 ] || fail "exit status $rc, want 11 (ErrImageNeverPull)"
grep -qx "version $(mkvar PACKAGE_VERSION)" <<<"$out" || fail "version line"
grep -qx "decision ErrImageNeverPull docker.io/library/nginx:1.25 Never error" <<<"$out" || fail "decision line"
want='{"reference":"docker.io/library/nginx:1.25","domain":"docker.io","path":"library/nginx","tag":"1.25","digest":"","policy":"Never","present":false,"action":"error","reason":"ErrImageNeverPull","credentials":[]}'
grep -qxF "$want" <<<"$out" || fail "JSON decision"
grep -qx "error registry unavailable" <<<"$out" || fail "berth_strerror"
[ -f "$store/oci-layout" ] || fail "the store was not created as an OCI layout"
if command -v c++ >/dev/null 2>&1; then
        printf '#include <berth/berth.h>\nint main() { return berth_version()[0] == 0; }\n' >"$TMP/prog.cc"
        # shellcheck disable=SC2086
        c++ $CFLAGS $cflags "$TMP/prog.cc" -o "$TMP/progxx" $LDFLAGS $libs 2>"$TMP/cxx.log" \
                || { cat "$TMP/cxx.log" >&2; fail "the header in C++"; }
        LD_LIBRARY_PATH=$libdir "$TMP/progxx" || fail "C++ program"
fi
pass "decided without network through the installed library"

step "libberth.so exports only berth_ symbols"
nm -D --defined-only "$so" | awk '{ print $NF }' | sort >"$TMP/exported"
grep -vE '^(berth_[a-z0-9_]+@@LIBBERTH_[0-9_]+|LIBBERTH_[0-9_]+)$' "$TMP/exported" >"$TMP/other" \
        && fail "exported besides berth_: $(tr '\n' ' ' <"$TMP/other")"
sed 's/@@.*//' "$TMP/exported" | grep '^berth_' >"$TMP/names"
grep -c . "$TMP/names" >/dev/null || fail "nothing exported"
# every function the installed headers declare is exported
grep -ohE '\bberth_[a-z0-9_]+\(' "$hdr" "$(dirname "$hdr")/common/err.h" | tr -d '(' | sort -u >"$TMP/declared"
missing=$(comm -23 "$TMP/declared" "$TMP/names")
[ -z "$missing" ] || fail "declared but not exported: $missing"
for s in digest_buf ref_parse layout_open log_msg registry_new pull_plan_make; do
        grep -qx "$s" "$TMP/names" && fail "internal symbol $s exported"
done
pass "$(grep -c . "$TMP/names") berth_ functions, nothing else"
