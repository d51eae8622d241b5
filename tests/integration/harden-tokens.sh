#!/bin/bash
# Hardening of the catalog, the names and the tokens (issue 9, items 3, 6, 10), in
# --auth token mode with curl:
# - walking _catalog in pages of n=1, as an unprivileged user (Basic and Bearer) and
#   with an anonymous token, never names a repository the caller may not pull: not
#   in a page, not in a Link header's `last`;
# - a token survives a berthd restart (tokens are signed, nothing is kept per token);
# - the scope of a token is its ceiling: a token for team/app pull can neither push
#   there nor pull team/other (401 with error="insufficient_scope"), nor mount from
#   a repository its scope does not name; a pull,push token pushes;
# - minting tokens past the rate limit answers 429 with Retry-After while another
#   client address still gets tokens;
# - `berthd user add` refuses a project's name and `berthd project create` a user's.
# Independent checks record failures and go on (auth_done fails the script at the end).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/auth-lib.sh"
set -e

berth_require curl jq sha256sum
berth_tmpdir
export BERTH_ARGON2_MEMORY_KIB=${BERTH_ARGON2_MEMORY_KIB:-4096}   # fast hashes
BERTH_ADMIN_PASSWORD=$ADMIN_PW berth_start --auth token

PW_ALICE=alice-$RANDOM$RANDOM
PW_BOB=bob-$RANDOM$RANDOM
for p in team team-b secret a-secret; do bd project create "$p" >/dev/null || fail "project create $p"; done
bd project create pub --public >/dev/null || fail "project create pub"
add_user alice "$PW_ALICE"
add_user bob "$PW_BOB"
bd project member add team alice developer >/dev/null || fail "member add alice"

# blob REPO CONTENT: a monolithic blob upload as admin (creates the repository); prints the digest
blob() {
        local d
        d=sha256:$(printf '%s' "$2" | sha256sum | cut -d' ' -f1)
        [ "$(printf '%s' "$2" | code -u "admin:$ADMIN_PW" -X POST --data-binary @- \
                -H 'Content-Type: application/octet-stream' "$BERTH_URL/v2/$1/blobs/uploads/?digest=$d")" = 201 ] \
                || fail "blob upload into $1"
        echo "$d"
}
D=$(blob pub/img common)
for r in alice/own a-secret/x secret/a secret/b team/app team-b/app zz/hidden; do blob "$r" common >/dev/null; done
D2=$(blob team/other only-in-other)

ALL="a-secret/x alice/own pub/img secret/a secret/b team-b/app team/app team/other zz/hidden"
# token [CURL-AUTH-ARGS...] [SCOPE...]: a token from GET /auth/token (scopes after --)
token() {
        local args=() q="service=berth" s
        while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
        [ $# -gt 0 ] && shift
        for s in "$@"; do q="$q&scope=$(jq -rn --arg s "$s" '$s|@uri')"; done
        bcurl "${args[@]}" "$BERTH_URL/auth/token?$q" | jq -r .token
}

# --- item 3: the catalog walk ----------------------------------------------------------
# walk WHAT VISIBLE CURL-AUTH-ARGS...: follow _catalog pages of n=1; every name on a page
# and in a Link's last= must be in VISIBLE, and together the pages must list VISIBLE.
walk() {
        local what=$1 want=$2 visible=" $2 " url="$BERTH_URL/v2/_catalog?n=1" next last pages=0 name bad= got
        shift 2
        : >"$TMP/walk.list"
        while [ -n "$url" ]; do
                bcurl "$@" -D "$TMP/walk.h" -o "$TMP/walk.json" "$url" || { soft_fail "$what: request failed"; return; }
                head -n1 "$TMP/walk.h" | grep -q ' 200' || { soft_fail "$what: $(head -n1 "$TMP/walk.h")"; return; }
                for name in $(jq -r '.repositories[]' "$TMP/walk.json"); do
                        echo "$name" >>"$TMP/walk.list"
                        case $visible in *" $name "*) ;; *) bad="$bad page:$name" ;; esac
                done
                next=$(tr -d '\r' <"$TMP/walk.h" | sed -n 's/^[Ll]ink: *<\([^>]*\)>.*/\1/p')
                if [ -n "$next" ]; then
                        last=$(printf '%s' "$next" | sed -n 's/.*[?&]last=\([^&]*\).*/\1/p')
                        case $visible in *" $last "*) ;; *) bad="$bad link:$last" ;; esac
                fi
                case $next in "") url= ;; http*) url=$next ;; *) url=$BERTH_URL$next ;; esac
                pages=$((pages + 1))
                [ $pages -le 40 ] || { soft_fail "$what: more than 40 pages"; return; }
        done
        got=$(sort "$TMP/walk.list" | tr '\n' ' ')
        if [ -n "$bad" ]; then
                soft_fail "$what: hidden repositories named:$bad"
        elif [ "$got" != "$(printf '%s\n' $want | sort | tr '\n' ' ')" ]; then
                soft_fail "$what: listed '$got', want '$want '"
        else
                pass "$what: $pages page(s) of n=1 name only '$want'"
        fi
}
step "_catalog in pages of n=1 names only what the caller may pull"
walk "admin (Basic)" "$ALL" -u "admin:$ADMIN_PW"
walk "alice (Basic)" "alice/own pub/img team/app team/other" -u "alice:$PW_ALICE"
walk "bob (Basic)" "pub/img" -u "bob:$PW_BOB"
atok=$(token -u "alice:$PW_ALICE")
walk "alice (Bearer, no scope)" "alice/own pub/img team/app team/other" -H "Authorization: Bearer $atok"
anon=$(token)
[ -n "$anon" ] && [ "$anon" != null ] || fail "no anonymous token"
walk "anonymous token" "pub/img" -H "Authorization: Bearer $anon"

# --- item 10: the scope is a ceiling -----------------------------------------------------
step "a token for team/app pull can neither push there nor pull elsewhere"
tpull=$(token -u "alice:$PW_ALICE" -- repository:team/app:pull)
tpush=$(token -u "alice:$PW_ALICE" -- repository:team/app:pull,push)
tboth=$(token -u "alice:$PW_ALICE" -- repository:team/app:pull,push repository:team/other:pull)
# soft_expect WANT WHAT CURL-ARGS...
soft_expect() {
        local want=$1 what=$2 got
        shift 2
        got=$(code "$@")
        if [ "$got" = "$want" ]; then pass "$what: $got"; else soft_fail "$what: HTTP $got, want $want"; fi
}
soft_expect 200 "pull token: HEAD team/app blob" -I -H "Authorization: Bearer $tpull" "$BERTH_URL/v2/team/app/blobs/$D"
soft_expect 401 "pull token: push to team/app" -X POST -H "Authorization: Bearer $tpull" "$BERTH_URL/v2/team/app/blobs/uploads/"
hdr=$(bcurl -s -D - -o /dev/null -X POST -H "Authorization: Bearer $tpull" "$BERTH_URL/v2/team/app/blobs/uploads/" |
        tr -d '\r' | awk -F': ' 'tolower($1) == "www-authenticate" { print $2 }')
case $hdr in
*'scope="repository:team/app:pull,push"'*'error="insufficient_scope"'*) pass "challenge: $hdr" ;;
*) soft_fail "pull token, push: challenge '$hdr' lacks the scope and error=\"insufficient_scope\"" ;;
esac
soft_expect 401 "pull token for team/app: pull team/other" -I -H "Authorization: Bearer $tpull" "$BERTH_URL/v2/team/other/blobs/$D2"
soft_expect 202 "pull,push token: push to team/app" -X POST -H "Authorization: Bearer $tpush" "$BERTH_URL/v2/team/app/blobs/uploads/"
soft_expect 202 "mount from team/other, not in the token's scope: a plain upload" -X POST \
        -H "Authorization: Bearer $tpush" "$BERTH_URL/v2/team/app/blobs/uploads/?mount=$D2&from=team/other"
soft_expect 404 "... and nothing was mounted" -I -u "admin:$ADMIN_PW" "$BERTH_URL/v2/team/app/blobs/$D2"
soft_expect 201 "mount from team/other, in the token's scope" -X POST \
        -H "Authorization: Bearer $tboth" "$BERTH_URL/v2/team/app/blobs/uploads/?mount=$D2&from=team/other"
soft_expect 401 "a token without a scope: pull" -I -H "Authorization: Bearer $atok" "$BERTH_URL/v2/team/app/blobs/$D"
soft_expect 200 "a token without a scope: GET /v2/" -H "Authorization: Bearer $atok" "$BERTH_URL/v2/"
tbob=$(token -u "bob:$PW_BOB" -- repository:team/app:pull)
soft_expect 403 "bob's token naming team/app: the rights still decide" -I -H "Authorization: Bearer $tbob" \
        "$BERTH_URL/v2/team/app/blobs/$D"
tampered=${tpull%?}A
[ "$tampered" = "$tpull" ] && tampered=${tpull%?}B
soft_expect 401 "a tampered token" -I -H "Authorization: Bearer $tampered" "$BERTH_URL/v2/team/app/blobs/$D"
soft_expect 401 "a token that is not one" -I -H "Authorization: Bearer ..;;x" "$BERTH_URL/v2/team/app/blobs/$D"

# --- item 10: a token survives a restart ---------------------------------------------------
step "the default rate lets a client that fetches a token per request go on (the OCI conformance suite does)"
for _ in $(seq 1 300); do printf 'url = "%s"\noutput = "/dev/null"\n' "$BERTH_URL/auth/token?service=berth&scope=repository:pub/img:pull"; done \
        >"$TMP/burst.curl"
bcurl -K "$TMP/burst.curl" -w '%{http_code}\n' >"$TMP/burst.codes" || true
ok=$(grep -c '^200$' "$TMP/burst.codes" || true)
if [ "$ok" -eq 300 ]; then
        pass "300 token requests at once from 127.0.0.1 with the default --token-rate: all issued"
else
        soft_fail "300 token requests at once with the default --token-rate: only $ok issued"
fi

step "a token survives a berthd restart"
tanon=$(token -- repository:pub/img:pull)
soft_expect 200 "before the restart: alice's pull token" -I -H "Authorization: Bearer $tpull" "$BERTH_URL/v2/team/app/blobs/$D"
berth_stop
BERTH_ADMIN_PASSWORD=$ADMIN_PW berth_start --auth token --token-rate 5/50  # a small bucket, to reach it quickly
soft_expect 200 "after the restart: alice's pull token" -I -H "Authorization: Bearer $tpull" "$BERTH_URL/v2/team/app/blobs/$D"
soft_expect 200 "after the restart: an anonymous token for pub/img" -I -H "Authorization: Bearer $tanon" "$BERTH_URL/v2/pub/img/blobs/$D"
soft_expect 401 "after the restart: still no push with the pull token" -X POST -H "Authorization: Bearer $tpull" \
        "$BERTH_URL/v2/team/app/blobs/uploads/"
printf '%s\n' "new-$PW_ALICE" | bd user passwd alice >/dev/null || fail "user passwd alice"
soft_expect 401 "alice's token after her password change" -I -H "Authorization: Bearer $tpull" "$BERTH_URL/v2/team/app/blobs/$D"

# --- item 6: user and project names ------------------------------------------------------------
step "a user named like a project, a project named like a user: refused"
if printf 'pw-%s\n' "$RANDOM" | bd user add team >"$TMP/cli.out" 2>"$TMP/cli.err"; then
        soft_fail "berthd user add team (a project) succeeded"
elif grep -q 'team: a project has that name' "$TMP/cli.err"; then
        pass "berthd user add team: $(cat "$TMP/cli.err")"
else
        soft_fail "berthd user add team: unclear message '$(cat "$TMP/cli.err")'"
fi
if bd project create bob >"$TMP/cli.out" 2>"$TMP/cli.err"; then
        soft_fail "berthd project create bob (a user) succeeded"
elif grep -q 'bob: a user has that name' "$TMP/cli.err"; then
        pass "berthd project create bob: $(cat "$TMP/cli.err")"
else
        soft_fail "berthd project create bob: unclear message '$(cat "$TMP/cli.err")'"
fi
bd user list | grep -q '^team	' && soft_fail "a user team exists"
bd project list | grep -q '^bob	' && soft_fail "a project bob exists"

# --- item 10: the issuance rate limit (last: it holds 127.0.0.1 back for a while) ------------
step "minting past the rate limit: 429 with Retry-After; another address still gets tokens"
for _ in $(seq 1 120); do printf 'url = "%s"\noutput = "/dev/null"\n' "$BERTH_URL/auth/token?service=berth"; done \
        >"$TMP/rate.curl"      # one curl, one connection: 120 requests within a second or two
start=$(date +%s)
bcurl -K "$TMP/rate.curl" -D "$TMP/rate.h" -w '%{http_code}\n' >"$TMP/rate.codes" || true
secs=$(( $(date +%s) - start + 1 ))
ok=$(grep -c '^200$' "$TMP/rate.codes" || true)
limited=$(grep -c '^429$' "$TMP/rate.codes" || true)
if [ "$limited" -gt 0 ] && [ "$ok" -le $((50 + 5 * secs)) ] && [ $((ok + limited)) -eq 120 ]; then
        pass "120 token requests from 127.0.0.1 in ${secs}s: $ok issued, $limited refused with 429"
else
        soft_fail "120 token requests from 127.0.0.1 in ${secs}s: $ok issued, $limited refused (want 429s past a burst of 50)"
fi
# the file itself, not through a pipe: with pipefail, grep -q ending the pipe early
# fails it when the writer is still writing (tr killed by SIGPIPE)
grep -qi '^retry-after: [1-9]' "$TMP/rate.h" || soft_fail "no Retry-After on a 429"
soft_expect 200 "a token for 127.0.0.2 meanwhile" --interface 127.0.0.2 "$BERTH_URL/auth/token?service=berth"

step "no token or password in the server log"
grep -qF -e "$PW_ALICE" -e "$PW_BOB" -e "$ADMIN_PW" -e "$atok" -e "$tpull" -e "$anon" "$TMP/berthd.log" \
        && soft_fail "a password or token appears in the server log"

berth_stop
auth_done
pass "catalog, names and tokens hold"
