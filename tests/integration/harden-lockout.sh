#!/bin/bash
# Issue 9, item 4: nobody can lock a user or a robot out. An attacker at 127.0.0.2
# guessing the passwords of `admin` and of a robot (the name in a pull Secret) is
# slowed and refused (429 + Retry-After), while the correct secrets keep working from
# 127.0.0.1, verified afresh (each round bumps the change counter, so no cache
# helps), during the attack and after it, for registry requests and for the token
# endpoint (GET with Basic, POST form). The attacker's address then sprays many
# names: a user who is not failing from that address (a neighbour behind the same
# NAT) still logs in there, a name that failed from it waits.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/auth-lib.sh"
set -e

berth_require curl
berth_tmpdir
export BERTH_ARGON2_MEMORY_KIB=${BERTH_ARGON2_MEMORY_KIB:-4096}   # fast hashes
auth_start
curl -s -o /dev/null --max-time 5 --interface 127.0.0.2 --cacert "$BERTH_CA" "$BERTH_URL/healthz" \
        || fail "cannot connect from 127.0.0.2 (loopback addresses other than 127.0.0.1)"

PW_GINA=gina-$RANDOM$RANDOM
bd project create team >/dev/null || fail "project create team"
add_user gina "$PW_GINA"
bd token create --project team >"$TMP/tok.out" || fail "token create"
robot=$(awk '$1 == "name:" { print $2 }' "$TMP/tok.out")
rsecret=$(awk '$1 == "secret:" { print $2 }' "$TMP/tok.out")
[ -n "$robot" ] && [ -n "$rsecret" ] || fail "token create printed no name/secret"

# from ADDR USER:PW [CURL ARGS...] [URL]: one request from ADDR; sets got (status) and
# ra (Retry-After)
from() {
        local addr=$1 cred=$2
        shift 2
        got=$(bcurl --interface "$addr" -u "$cred" -o /dev/null -D "$TMP/h" -w '%{http_code}' "$@" \
                2>/dev/null) || got=000
        ra=$(tr -d '\r' <"$TMP/h" | awk -F': *' 'tolower($1) == "retry-after" { print $2 }')
}
n=0
fresh() { n=$((n + 1)); bd project create "fresh$n" >/dev/null || fail "project create fresh$n"; }
# real NAME SECRET WHEN: the correct secret from 127.0.0.1, verified afresh: 200
real() {
        fresh
        from 127.0.0.1 "$1:$2" "$BERTH_URL/v2/"
        [ "$got" = 200 ] || soft_fail "$3: $1's correct secret from 127.0.0.1: HTTP $got, want 200"
}

# attack NAME SECRET: guesses from 127.0.0.2 until 429 + Retry-After, with the correct
# secret tried from 127.0.0.1 between the guesses; then more guesses while refused
attack() {
        local name=$1 secret=$2 i refused=0
        real "$name" "$secret" "before the attack"
        for i in $(seq 1 12); do
                from 127.0.0.2 "$name:guess-$RANDOM$RANDOM$i" "$BERTH_URL/v2/"
                case $got in
                401) ;;
                429)
                        [[ $ra =~ ^[1-9][0-9]*$ ]] || fail "429 for $name without a valid Retry-After ('$ra')"
                        refused=$((refused + 1)) ;;
                *) fail "guess $i at $name from 127.0.0.2: HTTP $got, want 401 or 429" ;;
                esac
                [ $((i % 4)) -eq 0 ] && real "$name" "$secret" "during the attack (guess $i)"
        done
        [ $refused -gt 0 ] || fail "12 guesses at $name from 127.0.0.2 were never refused"
        pass "$name: the attacker at 127.0.0.2 got 429 + Retry-After ($refused of 12 guesses refused)"
        # refused, yes, even the correct secret (not remembered: fresh) from the
        # address that has been failing on this name, while its delay runs (a
        # guess refused with Retry-After >= 2 shows it runs for a while yet)
        for i in $(seq 1 8); do
                fresh
                from 127.0.0.2 "$name:guess-$RANDOM$RANDOM" "$BERTH_URL/v2/"
                [ "$got" = 429 ] && [ "$ra" -ge 2 ] && break
                [ "$got" = 429 ] && sleep "$ra"
        done
        [ "$got" = 429 ] && [ "$ra" -ge 2 ] || fail "$name: no delay of 2 s or more for 127.0.0.2"
        from 127.0.0.2 "$name:$secret" "$BERTH_URL/v2/"
        [ "$got" = 429 ] || fail "$name's secret from the failing address 127.0.0.2: HTTP $got, want 429"
        real "$name" "$secret" "while 127.0.0.2 is refused"
        fresh
        from 127.0.0.1 "$name:$secret" "$BERTH_URL/auth/token"
        [ "$got" = 200 ] || soft_fail "token endpoint (GET, Basic) for $name from 127.0.0.1: HTTP $got, want 200"
        fresh
        got=$(bcurl -o /dev/null -w '%{http_code}' --data-urlencode grant_type=password \
                --data-urlencode "username=$name" --data-urlencode "password=$secret" \
                "$BERTH_URL/auth/token" 2>/dev/null) || got=000
        [ "$got" = 200 ] || soft_fail "token endpoint (POST form) for $name from 127.0.0.1: HTTP $got, want 200"
        [ "$_auth_failures" -ne 0 ] ||
                pass "$name: the correct secret works from 127.0.0.1 before, during and after the attack (registry and token endpoint)"
}

step "guesses at admin's password from 127.0.0.2"
attack admin "$ADMIN_PW"
step "guesses at the robot's secret (the name in a pull Secret) from 127.0.0.2"
attack "$robot" "$rsecret"
# the robot pulls as a node would (its project is private: 404 for a tag that is not there)
fresh
from 127.0.0.1 "$robot:$rsecret" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "$BERTH_URL/v2/team/app/manifests/none"
if [ "$got" = 404 ]; then
        pass "the robot's pull request from 127.0.0.1 is allowed"
else
        soft_fail "the robot's manifest request from 127.0.0.1: HTTP $got, want 404 (allowed, absent)"
fi

step "an address guessing many names (a NAT or a proxy in front of the attacker)"
for i in $(seq 1 24); do
        from 127.0.0.2 "nobody$i:guess-$RANDOM" "$BERTH_URL/v2/"
        [ "$got" = 401 ] || fail "spray guess $i from 127.0.0.2: HTTP $got, want 401 (a name's first failure is verified)"
done
for i in 1 2 3; do      # a verified failure now starts a delay, so the next try waits
        from 127.0.0.2 "nobody1:guess-$RANDOM$i" "$BERTH_URL/v2/"
        [ "$got" = 429 ] && break
done
[ "$got" = 429 ] || fail "a name failing again from the spraying address: HTTP $got, want 429"
[[ $ra =~ ^[1-9][0-9]*$ ]] || fail "429 without a valid Retry-After ('$ra')"
pass "a name failing again from the spraying address: 429, Retry-After: $ra"
from 127.0.0.2 "gina:$PW_GINA" "$BERTH_URL/v2/"
if [ "$got" = 200 ]; then
        pass "gina, a neighbour behind the spraying address, logs in there: 200"
else
        soft_fail "gina (not failing) from the spraying address: HTTP $got, want 200"
fi

grep -qF -e "$ADMIN_PW" -e "$rsecret" -e "$PW_GINA" "$TMP/berthd.log" && fail "a secret appears in the server log"
pass "no secret in the server log"
berth_stop
auth_done
