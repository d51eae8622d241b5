# tests/integration/upstream-lib.sh (sourced after lib.sh): a second berthd as the
# upstream registry of a pull-through test (proxy-cache.sh, mgmt-api.sh). It has
# its own data directory, TLS with its own CA (DIR/tls/ca.crt), and one user who
# may push to its project team; images are seeded into it with skopeo.

# upstream_berthd DIR ADDR USER PW LOG [serve args...]: starts it on ADDR (its
# access log to LOG) and waits until it answers; its pid in UPSTREAM_PID.
upstream_berthd() {
        local dir=$1 addr=$2 user=$3 pw=$4 log=$5
        shift 5
        local b=(timeout 60 "$top_builddir/berthd" --data "$dir")
        printf '%s\n' "$pw" | "${b[@]}" user add "$user" >/dev/null || fail "upstream $addr: user add"
        "${b[@]}" project create team >/dev/null || fail "upstream $addr: project create"
        "${b[@]}" project member add team "$user" developer >/dev/null || fail "upstream $addr: member add"
        "$top_builddir/berthd" serve --listen "$addr" --data "$dir" "$@" >>"$log" 2>&1 &
        UPSTREAM_PID=$!
        berth_track_pid "$UPSTREAM_PID"
        berth_wait_for 15 curl -s -o /dev/null --cacert "$dir/tls/ca.crt" "https://$addr/healthz" ||
                fail "upstream $addr does not start"
}

# upstream_seed ADDR USER:PW SEED REPO:TAG: an image of two layers made from SEED
# (the same SEED, the same image) pushed to the upstream as REPO:TAG.
upstream_seed() {
        local img=$TMP/upstream-img
        berth_mkimage "$img" --tag "$3" --layers 2 --layer-size 32K --seed "$3" >/dev/null
        timeout 120 skopeo --command-timeout 100s copy --quiet --dest-creds "$2" --dest-tls-verify=false \
                "oci:$img:$3" "docker://$1/$4" || fail "push $4 to upstream $1"
}
