#!/bin/bash
# Blobs in S3 (slow tier): berthd with --storage s3://... against a real Ceph RADOS
# Gateway (tests/ceph-rgw.sh, started once per slow-tier run): skopeo round trips, blob
# objects in the bucket and none under DATA, Range reads, --s3-redirect (307 to a
# presigned URL) followed by skopeo with the gateway's log showing the client's GETs,
# GC and fsck on the bucket, and two replicas on PostgreSQL sharing the bucket with no
# shared directory (a chunked upload alternating between them, its expiry); berthd killed during a multipart commit (GC leaves nothing); berthd storage
# copy of a filesystem store into the bucket; the gateway stopped during a push; a PATCH
# whose parts a slowed store holds back (tests/integration/s3_slow_relay.py) while
# berthd's only event-loop thread answers another request at once, and the same for
# an upload's other requests to the store (the tail's PUT, GET and DELETE, the HEAD
# before a direct upload, the chunked commit's HEAD, completion and copy, a mount's
# HEAD, a cancel's DELETE, a manifest PUT's object and HEAD); blob and manifest GETs and HEADs whose reads the relay
# holds, stalls or fails (the same thread answering meanwhile; a missing object 404
# and a failing store 503 before any byte); 64 MiB in 16 MiB chunks alternating
# between the two replicas.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/s3-lib.sh"
set -e

berth_require skopeo curl jq python3 cmp
berth_tmpdir
s3_test_setup it
step "bucket $BUCKET on $EP (the gateway came up in ${BERTH_TEST_S3_START_SECONDS:-?}s)"

berth_start --storage "$STORAGE"
grep -q "blobs in s3://$BUCKET/reg" "$TMP/berthd.log" || fail "berthd does not say where its blobs are"
if grep -q "$AWS_SECRET_ACCESS_KEY" "$TMP/berthd.log"; then fail "the secret key is in the log"; fi
certs=$TMP/certs
mkdir -p "$certs"
cp "$BERTH_CA" "$certs/ca.crt"
repo=$BERTH_HOST/it/s3
sk() { timeout 300 skopeo --command-timeout 240s "$@"; }

step "skopeo push and pull through berthd on S3"
want=$(berth_mkimage "$TMP/src" --tag v1 --layers 3 --layer-size 3M --seed s3 --gzip)
sk copy --quiet --preserve-digests --dest-cert-dir "$certs" "oci:$TMP/src:v1" "docker://$repo:v1" || fail "push"
sk copy --quiet --preserve-digests --src-cert-dir "$certs" "docker://$repo:v1" "oci:$TMP/out:v1" || fail "pull"
sk inspect --raw --cert-dir "$certs" "docker://$repo:v1" >"$TMP/raw.json"
cmp -s "$TMP/raw.json" "$TMP/src/blobs/sha256/${want#sha256:}" || fail "manifest not byte-exact"
n=0
for b in $(jq -r '.config.digest, .layers[].digest' "$TMP/raw.json"); do
        cmp -s "$TMP/src/blobs/sha256/${b#sha256:}" "$TMP/out/blobs/sha256/${b#sha256:}" || fail "blob $b differs"
        s3_keys "reg/blobs/sha256/${b#sha256:}" | grep -qx "reg/blobs/sha256/${b#sha256:}" || fail "no object for $b"
        n=$((n + 1))
done
[ "$n" -eq 4 ] || fail "expected 4 blobs, saw $n"
found=$(find "$BERTH_DATA/blobs" -type f | wc -l)
[ "$found" -eq 0 ] || fail "$found blob files under DATA/blobs: they belong in the bucket"
pass "round trip of $want; $n blob objects in the bucket, no blob file under DATA"

step "Range reads"
layer=$(jq -r '.layers[0].digest' "$TMP/raw.json")
lf=$TMP/src/blobs/sha256/${layer#sha256:}
size=$(stat -c %s "$lf")
bcurl -o "$TMP/part" -D "$TMP/h" -H 'Range: bytes=1000-5000999' "$BERTH_URL/v2/it/s3/blobs/$layer"
grep -q '^HTTP/[0-9.]* 206' "$TMP/h" || fail "no 206 for a Range GET"
grep -qi "^content-range: bytes 1000-$((size > 5001000 ? 5000999 : size - 1))/$size" "$TMP/h" || fail "Content-Range: $(grep -i content-range "$TMP/h")"
cmp -s "$TMP/part" <(tail -c +1001 "$lf" | head -c 5000000) || fail "ranged bytes differ"
code=$(bcurl -o /dev/null -w '%{http_code}' -H "Range: bytes=$size-" "$BERTH_URL/v2/it/s3/blobs/$layer")
[ "$code" = 416 ] || fail "a range past the end: $code, expected 416"
# a blob of several read blocks (8 MiB, the next read ahead while one is sent)
head -c $((20 << 20)) /dev/urandom >"$TMP/multi"
multi=sha256:$(sha256sum "$TMP/multi" | cut -d' ' -f1)
code=$(bcurl -o /dev/null -w '%{http_code}' -X POST --data-binary "@$TMP/multi" \
        -H 'Content-Type: application/octet-stream' "$BERTH_URL/v2/it/s3/blobs/uploads/?digest=$multi")
[ "$code" = 201 ] || fail "monolithic POST of 20 MiB: $code"
bcurl -o "$TMP/multi.got" "$BERTH_URL/v2/it/s3/blobs/$multi"
cmp -s "$TMP/multi.got" "$TMP/multi" || fail "a 20 MiB blob read through berthd differs"
bcurl -o "$TMP/multi.part" -H 'Range: bytes=1000-18874367' "$BERTH_URL/v2/it/s3/blobs/$multi"
cmp -s "$TMP/multi.part" <(tail -c +1001 "$TMP/multi" | head -c $((18874368 - 1000))) || fail "a range over three blocks differs"
pass "206 with the right bytes, within one read block and across three; 416 past the end"

step "an 80 MiB monolithic push (64 MiB parts) streams to the bucket as it arrives; a wrong digest leaves nothing"
head -c $((80 << 20)) /dev/urandom >"$TMP/b40"
h40=$(sha256sum "$TMP/b40" | cut -d' ' -f1)
wrong=$(printf 'not it' | sha256sum | cut -d' ' -f1)
code=$(bcurl -o "$TMP/wrong.json" -w '%{http_code}' -X POST --data-binary "@$TMP/b40" \
        -H 'Content-Type: application/octet-stream' "$BERTH_URL/v2/it/s3/blobs/uploads/?digest=sha256:$wrong")
[ "$code" = 400 ] || fail "a wrong digest: $code"
[ "$(jq -r '.errors[0].code' "$TMP/wrong.json")" = DIGEST_INVALID ] || fail "wrong digest body: $(cat "$TMP/wrong.json")"
if s3_keys "reg/blobs/sha256/$wrong" | grep -q .; then fail "an object under the wrong digest"; fi
if s3 GET "/$BUCKET?uploads=" | grep -q "<Upload>"; then fail "the refused upload's parts were not aborted"; fi
mark=$(wc -l <"$BERTH_TEST_S3_RGW_LOG")
code=$(bcurl -o /dev/null -w '%{http_code}' -X POST --data-binary "@$TMP/b40" \
        -H 'Content-Type: application/octet-stream' "$BERTH_URL/v2/it/s3/blobs/uploads/?digest=sha256:$h40")
[ "$code" = 201 ] || fail "80 MiB monolithic POST: $code"
grep -q "PUT /$BUCKET/reg/blobs/sha256/$h40?partNumber=2&" <(tail -n +"$((mark + 1))" "$BERTH_TEST_S3_RGW_LOG") ||
        fail "the blob did not go up in parts"
bcurl -o "$TMP/b40.got" "$BERTH_URL/v2/it/s3/blobs/sha256:$h40"
cmp -s "$TMP/b40.got" "$TMP/b40" || fail "the streamed blob differs"
pass "sent in parts while it arrived, visible after the digest check; a wrong digest aborted the parts"

step "a PATCH's parts are sent beside the event loop: a slowed store holds back no other request (--threads 1)"
# a relay in front of the gateway holds every part PUT for 3 s; berthd with one
# libmicrohttpd thread receives a 100 MiB PATCH through it: six 16 MiB parts, four in
# flight at most (the connection suspended while a fifth waits), a 4 MiB tail, whose
# last part the PUT sends
# slow_berthd NAME RELAY KINDS: a relay (s3_slow_relay.py: holds of 3 s, what it does
# read from the file KINDS at every request; $TMP/RELAY.log) in front of the gateway,
# and a berthd with one libmicrohttpd thread storing under s3://$BUCKET/NAME through
# it (data $TMP/NAME, log $TMP/NAME.log); sets SLOW_PID, SLOW_PORT and SLOW_URL
slow_berthd() {
        local name=$1 relay=$2 kinds=$3
        python3 "$BERTH_IT_DIR/s3_slow_relay.py" "$EP" "$TMP/$relay.port" "$TMP/$relay.log" 3 "$kinds" \
                >"$TMP/$relay.out" 2>&1 &
        berth_track_pid $!
        berth_wait_for 10 test -s "$TMP/$relay.port" || fail "the relay did not start"
        SLOW_PORT=$(berth_free_port)
        "$top_builddir/berthd" serve --listen "127.0.0.1:$SLOW_PORT" --data "$TMP/$name" --auth none --insecure-http \
                --metrics-listen '' --threads 1 \
                --storage "s3://$BUCKET/$name?endpoint=http://127.0.0.1:$(cat "$TMP/$relay.port")&region=$BERTH_TEST_S3_REGION" \
                >>"$TMP/$name.log" 2>&1 &
        SLOW_PID=$!
        berth_track_pid $SLOW_PID
        SLOW_URL=http://127.0.0.1:$SLOW_PORT
        berth_wait_for 20 eval '[ "$(curl -s -o /dev/null -w "%{http_code}" "$SLOW_URL/readyz")" = 200 ]' ||
                fail "berthd on the relay not ready"
}
slow_berthd slow relay "$TMP/relay.kinds"
slow_pid=$SLOW_PID su=$SLOW_URL
head -c $((100 << 20)) /dev/urandom >"$TMP/slow.bin"
sd=sha256:$(sha256sum "$TMP/slow.bin" | cut -d' ' -f1)
loc=$(curl -sS -D - -o /dev/null -X POST "$su/v2/it/slow/blobs/uploads/" | tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
[ -n "$loc" ] || fail "no upload location"
curl -sS -D "$TMP/slow.ph" -o /dev/null -X PATCH --data-binary "@$TMP/slow.bin" \
        -H 'Content-Type: application/octet-stream' "$su$loc" &
patch_pid=$!
berth_wait_for 30 grep -qs '^start' "$TMP/relay.log" || fail "no part reached the store"
# a part is held at the store now: another request on the same (only) thread
probe=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' --max-time 20 "$su/v2/")
[ "${probe% *}" = 200 ] || fail "/v2/ during the PATCH: $probe"
awk -v t="${probe#* }" 'BEGIN { exit !(t < 1.5) }' ||
        fail "/v2/ took ${probe#* } s while a part was held at the store (the event loop waited for it)"
wait $patch_pid || fail "the PATCH failed"
grep -q '^HTTP/[0-9.]* 202' "$TMP/slow.ph" || fail "PATCH: $(head -n 1 "$TMP/slow.ph")"
grep -qi "^range: 0-$(((100 << 20) - 1))" "$TMP/slow.ph" || fail "PATCH range: $(grep -i '^range' "$TMP/slow.ph")"
# its parts were in flight together, four at most
most=$(awk '$1 == "start" { n++; if (n > m) m = n } $1 == "end" { n-- } END { print m + 0 }' "$TMP/relay.log")
[ "$most" = 4 ] || fail "$most parts in flight at most, not 4: $(tr '\n' ' ' <"$TMP/relay.log")"
[ "$(grep -c '^start' "$TMP/relay.log")" = 6 ] || fail "not six parts: $(tr '\n' ' ' <"$TMP/relay.log")"
code=$(curl -sS -o "$TMP/slow.json" -w '%{http_code}' -X PUT "$su$loc?digest=$sd")
[ "$code" = 201 ] || fail "the final PUT: $code $(cat "$TMP/slow.json")"
[ "$(grep -c '^start' "$TMP/relay.log")" = 7 ] || fail "the PUT did not send the tail as the last part"
curl -sS -o "$TMP/slow.got" "$su/v2/it/slow/blobs/$sd"
cmp -s "$TMP/slow.got" "$TMP/slow.bin" || fail "the blob read back differs"
pass "/v2/ answered in ${probe#* } s while parts were held 3 s each; 6 parts, 4 in flight at most, the 4 MiB tail sent by the PUT; the blob read back"

step "an upload's other requests to the store are beside the event loop too: tail, HEAD, completion, copy, mount, cancel (--threads 1)"
# the same relay now holds (3 s each) the requests of the kinds in relay.kinds; while
# the first of each kind is held, GET /v2/ on the same (only) thread is answered in
# under a quarter of the hold and before that request ends (the build before waited
# for each of them on its event-loop thread)
held_probe() { # KIND WHAT: a request of KIND held at the store now; /v2/ answered meanwhile
        local t
        berth_wait_for 30 grep -qs "^start $1 " "$TMP/relay.log" ||
                fail "$2: no $1 reached the store; the relay's log: $(tr '\n' ' ' <"$TMP/relay.log"); berthd's: $(tail -n 4 "$TMP/slow.log")"
        probe=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' --max-time 20 "$su/v2/")
        [ "${probe% *}" = 200 ] || fail "/v2/ while the $2's $1 was held: $probe"
        t=${probe#* }
        awk -v t="$t" 'BEGIN { exit !(t < 3 / 4) }' ||
                fail "/v2/ took $t s while the $2's $1 was held 3 s at the store (the event loop waited for it)"
        ! grep -q "^end $1 " "$TMP/relay.log" || fail "/v2/ answered only after the $2's $1 ended"
        held+=" $2 $1: $t s;"
}
held_on() { # KINDS: held from now on, the relay's log started afresh
        : >"$TMP/relay.log"
        echo "$1" >"$TMP/relay.kinds"
}
held=
# a PATCH of 3 MiB: short of a part, kept as the tail object (its PUT held)
head -c $((6 << 20)) /dev/urandom >"$TMP/tail.bin"
td=sha256:$(sha256sum "$TMP/tail.bin" | cut -d' ' -f1)
head -c $((3 << 20)) "$TMP/tail.bin" >"$TMP/tail.1"
tail -c $((3 << 20)) "$TMP/tail.bin" >"$TMP/tail.2"
loc=$(curl -sS -D - -o /dev/null -X POST "$su/v2/it/slow/blobs/uploads/" | tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
[ -n "$loc" ] || fail "no upload location"
held_on tail-put
curl -sS -D "$TMP/tail.ph" -o /dev/null -X PATCH --data-binary "@$TMP/tail.1" "$su$loc" &
patch_pid=$!
held_probe tail-put "first PATCH"
wait $patch_pid || fail "the first PATCH failed"
grep -q '^HTTP/[0-9.]* 202' "$TMP/tail.ph" || fail "first PATCH: $(head -n 1 "$TMP/tail.ph")"
grep -qi "^range: 0-$(((3 << 20) - 1))" "$TMP/tail.ph" || fail "first PATCH range: $(grep -i '^range' "$TMP/tail.ph")"
# the next PATCH reads the tail back (its GET held), sends the 6 MiB as a part and
# removes the old tail (its DELETE held)
held_on tail-get,tail-delete
curl -sS -D "$TMP/tail.ph" -o /dev/null -X PATCH --data-binary "@$TMP/tail.2" "$su$loc" &
patch_pid=$!
held_probe tail-get "second PATCH"
held_probe tail-delete "second PATCH"
wait $patch_pid || fail "the second PATCH failed"
grep -q '^HTTP/[0-9.]* 202' "$TMP/tail.ph" || fail "second PATCH: $(head -n 1 "$TMP/tail.ph")"
grep -qi "^range: 0-$(((6 << 20) - 1))" "$TMP/tail.ph" || fail "second PATCH range: $(grep -i '^range' "$TMP/tail.ph")"
# the final PUT: the HEAD (stored already?), the completion, the server-side copy
held_on head,complete,copy
curl -sS -o "$TMP/tail.json" -w '%{http_code}' -X PUT "$su$loc?digest=$td" >"$TMP/tail.code" &
put_pid=$!
held_probe head "final PUT"
held_probe complete "final PUT"
held_probe copy "final PUT"
wait $put_pid || fail "the final PUT failed"
[ "$(cat "$TMP/tail.code")" = 201 ] || fail "the final PUT: $(cat "$TMP/tail.code") $(cat "$TMP/tail.json")"
held_on none
curl -sS -o "$TMP/tail.got" "$su/v2/it/slow/blobs/$td"
cmp -s "$TMP/tail.got" "$TMP/tail.bin" || fail "the chunked blob read back differs"
# a monolithic POST ?digest=: the HEAD of its digest key before it goes up (held)
head -c $((1 << 20)) /dev/urandom >"$TMP/mono.bin"
md=sha256:$(sha256sum "$TMP/mono.bin" | cut -d' ' -f1)
held_on head
curl -sS -o "$TMP/mono.json" -w '%{http_code}' -X POST --data-binary "@$TMP/mono.bin" \
        -H 'Content-Type: application/octet-stream' "$su/v2/it/slow/blobs/uploads/?digest=$md" >"$TMP/mono.code" &
post_pid=$!
held_probe head "monolithic POST"
wait $post_pid || fail "the monolithic POST failed"
[ "$(cat "$TMP/mono.code")" = 201 ] || fail "the monolithic POST: $(cat "$TMP/mono.code") $(cat "$TMP/mono.json")"
held_on none
curl -sS -o "$TMP/mono.got" "$su/v2/it/slow/blobs/$md"
cmp -s "$TMP/mono.got" "$TMP/mono.bin" || fail "the monolithic blob read back differs"
# a cross-repository mount: whether the blob is in the store, asked before the
# link and inside its transaction (HEADs, held)
held_on head
curl -sS -D "$TMP/mount.h" -o /dev/null -X POST "$su/v2/it/slow2/blobs/uploads/?mount=$md&from=it/slow" &
post_pid=$!
held_probe head "mount"
wait $post_pid || fail "the mount failed"
grep -q '^HTTP/[0-9.]* 201' "$TMP/mount.h" || fail "the mount: $(head -n 1 "$TMP/mount.h")"
held_on none
curl -sS -o "$TMP/mount.got" "$su/v2/it/slow2/blobs/$md"
cmp -s "$TMP/mount.got" "$TMP/mono.bin" || fail "the mounted blob read back differs"
# a cancelled upload (DELETE): its objects removed (held)
loc=$(curl -sS -D - -o /dev/null -X POST "$su/v2/it/slow/blobs/uploads/" | tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
code=$(curl -sS -o /dev/null -w '%{http_code}' -X PATCH --data-binary "@$TMP/mono.bin" "$su$loc")
[ "$code" = 202 ] || fail "PATCH before the cancel: $code"
held_on delete
curl -sS -o /dev/null -w '%{http_code}' -X DELETE "$su$loc" >"$TMP/del.code" &
del_pid=$!
held_probe delete "cancel"
wait $del_pid || fail "the cancel failed"
[ "$(cat "$TMP/del.code")" = 204 ] || fail "the cancel: $(cat "$TMP/del.code")"
held_on none
code=$(curl -sS -o /dev/null -w '%{http_code}' "$su$loc")
[ "$code" = 404 ] || fail "the cancelled upload's status: $code"
# a manifest PUT: its object's PUT, and then (another manifest) the store asked
# whether the object is there inside the row's transaction (HEAD), each held
printf '{}' >"$TMP/mcfg"
mcfg=sha256:$(sha256sum "$TMP/mcfg" | cut -d' ' -f1)
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST --data-binary "@$TMP/mcfg" -H 'Content-Type: application/octet-stream' \
        "$su/v2/it/slow/blobs/uploads/?digest=$mcfg")
[ "$code" = 201 ] || fail "config blob: $code"
for i in 1 2; do
        printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}],"annotations":{"n":"%s"}}' \
                "$mcfg" "$md" $((1 << 20)) "$i" >"$TMP/man.$i"
done
held_put_manifest() { # KIND N: manifest N PUT as mN while the store holds KIND
        held_on "$1"
        curl -sS -o "$TMP/man.json" -w '%{http_code}' -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
                --data-binary "@$TMP/man.$2" "$su/v2/it/slow/manifests/m$2" >"$TMP/man.code" &
        local put_pid=$!
        held_probe "$1" "manifest PUT $2"
        wait $put_pid || fail "manifest PUT $2 failed"
        [ "$(cat "$TMP/man.code")" = 201 ] || fail "manifest PUT $2: $(cat "$TMP/man.code") $(cat "$TMP/man.json")"
}
held_put_manifest put 1
held_put_manifest head 2
held_on none
for i in 1 2; do
        curl -sS -o "$TMP/man.got" -H 'Accept: application/vnd.oci.image.manifest.v1+json' "$su/v2/it/slow/manifests/m$i"
        cmp -s "$TMP/man.got" "$TMP/man.$i" || fail "manifest m$i read back differs"
done
kill "$slow_pid"
wait "$slow_pid" || fail "berthd on the relay did not stop cleanly"
pass "/v2/ answered while held 3 s at the store:$held the blobs read back"

step "blob GETs and HEADs ask the store beside the event loop (--threads 1): a slowed read holds back no other request; a missing object is 404 and a failed read 5xx before any byte"
# a relay whose kinds file says what it does to reads of blob objects: held 3 s
# (get,head), the first MiB then 3 s of silence (stall), answered 500 (fail); berthd with one
# libmicrohttpd thread reads through it while /v2/ is asked on the same thread
echo none >"$TMP/relay2.mode"
: >"$TMP/relay2.log"
slow_berthd slowget relay2 "$TMP/relay2.mode"
get_pid=$SLOW_PID gp=$SLOW_PORT gu=$SLOW_URL
head -c $((1 << 20)) /dev/urandom >"$TMP/gsmall"
gsmall=sha256:$(sha256sum "$TMP/gsmall" | cut -d' ' -f1)
for f in gsmall multi; do
        code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST --data-binary "@$TMP/$f" -H 'Content-Type: application/octet-stream' \
                "$gu/v2/it/slowget/blobs/uploads/?digest=sha256:$(sha256sum "$TMP/$f" | cut -d' ' -f1)")
        [ "$code" = 201 ] || fail "push of $f through the relay: $code"
done
# slowed_read MODE NAME CURL-ARGS...: the blob request in the background; once the
# relay holds its read (and WAIT more seconds), /v2/ on the same thread must be
# answered in under a quarter of the hold; the blob request's status in $TMP/NAME.code
slowed_read() {
        local mode=$1 name=$2 wait=$3 n
        shift 3
        n=$(grep -c '^start \(get\|head\) ' "$TMP/relay2.log" || true)
        echo "$mode" >"$TMP/relay2.mode"
        curl -sS -D "$TMP/$name.h" -o "$TMP/$name.got" -w '%{http_code}' --max-time 60 "$@" >"$TMP/$name.code" 2>"$TMP/$name.err" &
        local pid=$!
        berth_wait_for 30 eval '[ "$(grep -c "^start \\(get\\|head\\) " "$TMP/relay2.log")" -gt "$n" ]' ||
                fail "$name: no read reached the relay"
        sleep "$wait"
        local probe
        probe=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' --max-time 20 "$gu/v2/")
        [ "${probe% *}" = 200 ] || fail "$name: /v2/ while the store was slowed: $probe"
        awk -v t="${probe#* }" 'BEGIN { exit !(t < 0.75) }' ||
                fail "$name: /v2/ took ${probe#* } s while the blob's read was held 3 s (the event loop waited for the store)"
        wait "$pid" || true
        echo none >"$TMP/relay2.mode"
        probes="$probes ${probe#* }"
}
probes=
slowed_read get,head small-get 0 "$gu/v2/it/slowget/blobs/$gsmall"
[ "$(cat "$TMP/small-get.code")" = 200 ] && cmp -s "$TMP/small-get.got" "$TMP/gsmall" || fail "small GET: $(cat "$TMP/small-get.code")"
grep -qi "^docker-content-digest: $gsmall" "$TMP/small-get.h" && grep -qi "^etag: \"$gsmall\"" "$TMP/small-get.h" ||
        fail "small GET headers: $(cat "$TMP/small-get.h")"
slowed_read get,head small-head 0 -I "$gu/v2/it/slowget/blobs/$gsmall"
[ "$(cat "$TMP/small-head.code")" = 200 ] && grep -qi "^content-length: $((1 << 20))" "$TMP/small-head.h" ||
        fail "small HEAD: $(cat "$TMP/small-head.code") $(cat "$TMP/small-head.h")"
slowed_read get,head small-range 0 -H 'Range: bytes=10-99' "$gu/v2/it/slowget/blobs/$gsmall"
[ "$(cat "$TMP/small-range.code")" = 206 ] && cmp -s "$TMP/small-range.got" <(tail -c +11 "$TMP/gsmall" | head -c 90) ||
        fail "small ranged GET: $(cat "$TMP/small-range.code")"
slowed_read get,head large-get 0 "$gu/v2/it/slowget/blobs/$multi"
[ "$(cat "$TMP/large-get.code")" = 200 ] && cmp -s "$TMP/large-get.got" "$TMP/multi" || fail "large GET: $(cat "$TMP/large-get.code")"
# the first MiB comes, then the store is silent: the transfer's reader catches up
slowed_read stall large-stall 1 "$gu/v2/it/slowget/blobs/$multi"
[ "$(cat "$TMP/large-stall.code")" = 200 ] && cmp -s "$TMP/large-stall.got" "$TMP/multi" ||
        fail "large GET with a stalled store: $(cat "$TMP/large-stall.code")"
# a client gone while the store is silent: its answer ends on the event loop, which
# must not wait for the store's next byte (the read's thread is left to give up then).
# The relay sends 12 MiB and falls silent; the client reads a little through a tiny
# window (berthd's socket fills, its transfer stays live) and resets the connection.
echo stall12 >"$TMP/relay2.mode"
python3 - "$gp" "/v2/it/slowget/blobs/$multi" <<'PY' || fail "a client leaving mid-transfer: could not start the transfer"
import socket, struct, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.settimeout(30)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % sys.argv[2].encode())
got = b""
while b"\r\n\r\n" not in got:
    got += s.recv(4096)
if b" 200 " not in got.split(b"\r\n")[0]:
    sys.exit(1)
time.sleep(1)  # the relay has sent its 12 MiB and is silent for the rest of its hold
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
PY
probe=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' --max-time 20 "$gu/v2/")
echo none >"$TMP/relay2.mode"
[ "${probe% *}" = 200 ] || fail "/v2/ after a client left mid-transfer: $probe"
awk -v t="${probe#* }" 'BEGIN { exit !(t < 0.75) }' ||
        fail "/v2/ took ${probe#* } s after a client left while the store was silent (the event loop waited for the read's thread)"
probes="$probes ${probe#* }"
code=$(curl -sS -o "$TMP/after-leave.got" -w '%{http_code}' --max-time 60 "$gu/v2/it/slowget/blobs/$multi")
[ "$code" = 200 ] && cmp -s "$TMP/after-leave.got" "$TMP/multi" || fail "the blob after a client left mid-transfer: $code"
# manifests are read from the store the same way: an image, and an index answered as
# its linux/amd64 image to a client that takes no index (two reads, each held)
printf '{}' >"$TMP/gcfg"
gcfg=sha256:$(sha256sum "$TMP/gcfg" | cut -d' ' -f1)
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST --data-binary "@$TMP/gcfg" -H 'Content-Type: application/octet-stream' \
        "$gu/v2/it/slowget/blobs/uploads/?digest=$gcfg")
[ "$code" = 201 ] || fail "config blob through the relay: $code"
MT_M=application/vnd.oci.image.manifest.v1+json MT_I=application/vnd.oci.image.index.v1+json
printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}' \
        "$MT_M" "$gcfg" "$gsmall" $((1 << 20)) >"$TMP/gman"
gman=sha256:$(sha256sum "$TMP/gman" | cut -d' ' -f1)
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%d,"platform":{"architecture":"amd64","os":"linux"}}]}' \
        "$MT_I" "$MT_M" "$gman" "$(stat -c %s "$TMP/gman")" >"$TMP/gidx"
for t in gman:img gidx:idx; do
        mt=$MT_M; [ "${t%%:*}" = gidx ] && mt=$MT_I
        code=$(curl -sS -o /dev/null -w '%{http_code}' -X PUT -H "Content-Type: $mt" --data-binary "@$TMP/${t%%:*}" \
                "$gu/v2/it/slowget/manifests/${t#*:}")
        [ "$code" = 201 ] || fail "PUT of manifest ${t#*:} through the relay: $code"
done
slowed_read get,head manifest-get 0 -H "Accept: $MT_M" "$gu/v2/it/slowget/manifests/img"
[ "$(cat "$TMP/manifest-get.code")" = 200 ] && cmp -s "$TMP/manifest-get.got" "$TMP/gman" &&
        grep -qi "^docker-content-digest: $gman" "$TMP/manifest-get.h" ||
        fail "manifest GET with its read held: $(cat "$TMP/manifest-get.code") $(cat "$TMP/manifest-get.h")"
slowed_read get,head index-child 0 -H "Accept: $MT_M" "$gu/v2/it/slowget/manifests/idx"
[ "$(cat "$TMP/index-child.code")" = 200 ] && cmp -s "$TMP/index-child.got" "$TMP/gman" ||
        fail "an index asked by a client that takes no index, its reads held: $(cat "$TMP/index-child.code")"
code=$(curl -sS -o "$TMP/idx.got" -w '%{http_code}' -H "Accept: $MT_I" "$gu/v2/it/slowget/manifests/idx")
[ "$code" = 200 ] && cmp -s "$TMP/idx.got" "$TMP/gidx" || fail "the index itself: $code"
s3 GET "/$BUCKET/slowget/blobs/sha256/${gman#sha256:}" -o "$TMP/keep"
s3 DELETE "/$BUCKET/slowget/blobs/sha256/${gman#sha256:}" -o /dev/null
code=$(curl -sS -o "$TMP/gone.json" -w '%{http_code}' -H "Accept: $MT_M" "$gu/v2/it/slowget/manifests/img")
[ "$code" = 404 ] && [ "$(jq -r '.errors[0].code' "$TMP/gone.json")" = MANIFEST_UNKNOWN ] ||
        fail "GET of a manifest whose object is gone: $code $(cat "$TMP/gone.json")"
echo fail >"$TMP/relay2.mode"
code=$(curl -sS -o "$TMP/failed.json" -w '%{http_code}' --max-time 60 -H "Accept: $MT_M" "$gu/v2/it/slowget/manifests/idx" || true)
echo none >"$TMP/relay2.mode"
[ "$code" = 503 ] && [ "$(jq -r '.errors[0].code' "$TMP/failed.json" 2>/dev/null)" = UNAVAILABLE ] ||
        fail "GET of an index while the store fails: $code $(head -c 200 "$TMP/failed.json")"
s3 PUT "/$BUCKET/slowget/blobs/sha256/${gman#sha256:}" --data-binary "@$TMP/keep" -o /dev/null
# the object gone under its row: 404 BLOB_UNKNOWN, small or large, GET or HEAD
for b in "$gsmall" "$multi"; do
        s3 GET "/$BUCKET/slowget/blobs/sha256/${b#sha256:}" -o "$TMP/keep"
        s3 DELETE "/$BUCKET/slowget/blobs/sha256/${b#sha256:}" -o /dev/null
        code=$(curl -sS -o "$TMP/gone.json" -w '%{http_code}' "$gu/v2/it/slowget/blobs/$b")
        [ "$code" = 404 ] && [ "$(jq -r '.errors[0].code' "$TMP/gone.json")" = BLOB_UNKNOWN ] ||
                fail "GET of $b whose object is gone: $code $(cat "$TMP/gone.json")"
        code=$(curl -sS -I -o /dev/null -w '%{http_code}' "$gu/v2/it/slowget/blobs/$b")
        [ "$code" = 404 ] || fail "HEAD of $b whose object is gone: $code"
        s3 PUT "/$BUCKET/slowget/blobs/sha256/${b#sha256:}" --data-binary "@$TMP/keep" -o /dev/null
done
# the store failing (500 on every attempt): 503 in the OCI error format, not a cut body
for b in "$gsmall" "$multi"; do
        echo fail >"$TMP/relay2.mode"
        code=$(curl -sS -o "$TMP/failed.json" -w '%{http_code}' --max-time 60 "$gu/v2/it/slowget/blobs/$b" 2>"$TMP/failed.err" || true)
        echo none >"$TMP/relay2.mode"
        [ "$code" = 503 ] && [ "$(jq -r '.errors[0].code' "$TMP/failed.json" 2>/dev/null)" = UNAVAILABLE ] ||
                fail "GET of $b while the store fails: $code $(head -c 200 "$TMP/failed.json") $(cat "$TMP/failed.err")"
done
# SIGTERM while a read is held: the GET is answered, berthd stops cleanly
n=$(grep -c '^start \(get\|head\) ' "$TMP/relay2.log" || true)
echo get,head >"$TMP/relay2.mode"
curl -sS -o "$TMP/drain.got" -w '%{http_code}' --max-time 60 "$gu/v2/it/slowget/blobs/$gsmall" >"$TMP/drain.code" 2>&1 &
drain_pid=$!
berth_wait_for 30 eval '[ "$(grep -c "^start \\(get\\|head\\) " "$TMP/relay2.log")" -gt "$n" ]' || fail "drain: no read reached the relay"
kill "$get_pid"
wait "$drain_pid" || true
[ "$(cat "$TMP/drain.code")" = 200 ] && cmp -s "$TMP/drain.got" "$TMP/gsmall" || fail "a GET held while berthd drained: $(cat "$TMP/drain.code")"
wait "$get_pid" || fail "berthd on the relay did not stop cleanly"
pass "/v2/ answered in$probes s while blob reads were held 3 s (GET, HEAD, Range, 20 MiB, a store silent midway, a client leaving while it is, a manifest, an index's two reads); 404 BLOB_UNKNOWN (MANIFEST_UNKNOWN) for a missing object, 503 for a failing store, before any byte; a held GET answered through SIGTERM"

step "the API scripts against berthd on S3"
# their blob counts come from the bucket's listing
cat >"$TMP/blob-ls.sh" <<EOF
curl -sS --max-time 60 --aws-sigv4 "aws:amz:$BERTH_TEST_S3_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \\
        -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$EP/$BUCKET?list-type=2" |
        python3 -c 'import sys, re
for k in re.findall(r"<Key>reg/blobs/sha[0-9]+/([0-9a-f]+)</Key>", sys.stdin.read()): print(k)'
EOF
BERTH_TEST_SERVER=external BERTH_TEST_EXTERNAL_URL=$BERTH_URL BERTH_TEST_EXTERNAL_CA=$BERTH_CA \
        BERTH_TEST_EXTERNAL_DATA=$BERTH_DATA BERTH_TEST_EXTERNAL_LOG=$TMP/berthd.log BERTH_TEST_EXTERNAL_USER= \
        BERTH_TEST_BLOB_LS="bash '$TMP/blob-ls.sh'" \
        bash "$BERTH_IT_DIR/api-core.sh" >"$TMP/api-core.out" 2>&1 || { tail -n 30 "$TMP/api-core.out"; fail "api-core.sh on S3"; }
pass "api-core.sh passes on the S3 driver"

step "fsck and GC on the bucket"
BERTH_STORAGE=$STORAGE "$top_builddir/berthd" fsck --data "$BERTH_DATA" >"$TMP/fsck.out" 2>&1 ||
        { cat "$TMP/fsck.out"; fail "fsck of a sound bucket failed"; }
# damage one layer in place: fsck re-hashes by streaming and finds it
printf 'not the layer' | s3 PUT "/$BUCKET/reg/blobs/sha256/${layer#sha256:}" --data-binary @- -o /dev/null
if BERTH_STORAGE=$STORAGE "$top_builddir/berthd" fsck --data "$BERTH_DATA" >"$TMP/fsck2.out" 2>&1; then
        fail "fsck found nothing wrong with a damaged object"
fi
grep -q "${layer#sha256:}" "$TMP/fsck2.out" || fail "fsck does not name the damaged blob: $(cat "$TMP/fsck2.out")"
s3 PUT "/$BUCKET/reg/blobs/sha256/${layer#sha256:}" --data-binary "@$lf" -o /dev/null
# the object gone under its row: the blob is unknown (and the log says why), not an error
s3 DELETE "/$BUCKET/reg/blobs/sha256/${layer#sha256:}" -o /dev/null
code=$(bcurl -o "$TMP/gone.json" -w '%{http_code}' "$BERTH_URL/v2/it/s3/blobs/$layer")
[ "$code" = 404 ] && [ "$(jq -r '.errors[0].code' "$TMP/gone.json")" = BLOB_UNKNOWN ] ||
        fail "GET of a blob whose object is gone: $code $(cat "$TMP/gone.json")"
grep -q "blob $layer has a row but no object" "$TMP/berthd.log" || fail "the log does not say the object is gone"
s3 PUT "/$BUCKET/reg/blobs/sha256/${layer#sha256:}" --data-binary "@$lf" -o /dev/null
bcurl -f -o "$TMP/back" "$BERTH_URL/v2/it/s3/blobs/$layer" && cmp -s "$TMP/back" "$lf" || fail "the object put back"
# an orphan object (no row), and the image deleted: GC removes both sets of objects
orphan=$(printf 'orphan %s' "$BUCKET" | sha256sum | cut -d' ' -f1)
printf 'orphan %s' "$BUCKET" | s3 PUT "/$BUCKET/reg/blobs/sha256/$orphan" --data-binary @- -o /dev/null
code=$(bcurl -o /dev/null -w '%{http_code}' -X DELETE "$BERTH_URL/v2/it/s3/manifests/$want")
[ "$code" = 202 ] || fail "manifest delete: $code"
# a multipart upload a crashed commit left behind: the upload expiry aborts it
s3 POST "/$BUCKET/reg/blobs/sha256/$orphan?uploads=" -o /dev/null
s3 GET "/$BUCKET?uploads=" | grep -q "<Key>reg/blobs/sha256/$orphan</Key>" || fail "no multipart upload to expire"
berth_stop
sleep 2
BERTH_STORAGE=$STORAGE "$top_builddir/berthd" gc --data "$BERTH_DATA" --grace 0 --upload-max-age 1 >"$TMP/gc.out" 2>&1 ||
        { cat "$TMP/gc.out"; fail "gc"; }
if s3 GET "/$BUCKET?uploads=" | grep -q "<Upload>"; then fail "the expiry left a multipart upload"; fi
for b in $(jq -r '.config.digest, .layers[].digest' "$TMP/raw.json"); do
        if s3_keys "reg/blobs/sha256/${b#sha256:}" | grep -q .; then fail "GC left $b in the bucket"; fi
done
# the orphan is younger than an hour: it may be a direct upload whose row is being
# written (nothing kept to place it again from), so even grace 0 leaves it
s3_keys "reg/blobs/sha256/$orphan" | grep -q . || fail "GC removed an orphan object seconds old (grace 0)"
# an hour and a minute later (the run's clock moved, a test build) it goes
echo 3660 >"$TMP/gc.clock"
BERTH_TEST_CLOCK_FILE=$TMP/gc.clock BERTH_STORAGE=$STORAGE "$top_builddir/berthd" gc --data "$BERTH_DATA" --grace 0 \
        --upload-max-age 1 >"$TMP/gc.out" 2>&1 || { cat "$TMP/gc.out"; fail "gc an hour later"; }
if s3_keys "reg/blobs/sha256/$orphan" | grep -q .; then fail "GC left the orphan an hour later: $(cat "$TMP/gc.out")"; fi
if s3_keys "reg/trash/" | grep -q .; then fail "GC left objects under trash/"; fi
pass "fsck names a damaged object; a blob whose object is gone is unknown (404, logged); GC removed the image's objects and an abandoned multipart upload, and an orphan once an hour old, not before"

step "--s3-redirect: 307 to a presigned URL, followed by skopeo"
berth_start --storage "$STORAGE" --s3-redirect
repo=$BERTH_HOST/it/s3
sk copy --quiet --preserve-digests --dest-cert-dir "$certs" "oci:$TMP/src:v1" "docker://$repo:v1" || fail "push"
loc=$(bcurl -o /dev/null -D - "$BERTH_URL/v2/it/s3/blobs/$layer" | tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
case $loc in "$EP/$BUCKET/reg/blobs/sha256/${layer#sha256:}?"*X-Amz-Signature=*) ;; *) fail "Location: '$loc'" ;; esac
code=$(bcurl -o /dev/null -w '%{http_code}' "$BERTH_URL/v2/it/s3/blobs/$layer")
[ "$code" = 307 ] || fail "blob GET: $code, expected 307"
curl -sS -o "$TMP/direct" "$loc" && cmp -s "$TMP/direct" "$lf" || fail "the presigned URL does not serve the blob"
mark=$(wc -l <"$BERTH_TEST_S3_RGW_LOG")
rm -rf "$TMP/out2"
sk copy --quiet --preserve-digests --src-cert-dir "$certs" "docker://$repo:v1" "oci:$TMP/out2:v1" || fail "pull via redirects"
for b in $(jq -r '.config.digest, .layers[].digest' "$TMP/raw.json"); do
        cmp -s "$TMP/src/blobs/sha256/${b#sha256:}" "$TMP/out2/blobs/sha256/${b#sha256:}" || fail "blob $b differs"
        tail -n +"$((mark + 1))" "$BERTH_TEST_S3_RGW_LOG" | grep "\"GET /$BUCKET/reg/blobs/sha256/${b#sha256:}?" |
                grep -q ' 200 ' || fail "the gateway's log has no client GET of $b"
done
berth_stop
pass "skopeo pulled every blob from the gateway directly"

step "kill -9 of berthd while it sends a blob to the bucket: no object survives the next GC"
berth_start --storage "$STORAGE"
head -c $((160 << 20)) /dev/urandom >"$TMP/big"
big=$(sha256sum "$TMP/big" | cut -d' ' -f1)
loc=$(bcurl -D - -o /dev/null -X POST "$BERTH_URL/v2/it/crash/blobs/uploads/" | tr -d '\r' |
        awk 'tolower($1) == "location:" { print $2 }')
bcurl -o /dev/null -X PUT --data-binary "@$TMP/big" -H 'Content-Type: application/octet-stream' \
        "$BERTH_URL$loc?digest=sha256:$big" 2>/dev/null &
put_pid=$!
in_flight() { s3 GET "/$BUCKET?uploads=" | grep -q "<Key>reg/blobs/sha256/$big</Key>"; }
berth_wait_for 120 in_flight || fail "the blob's multipart upload never started"
kill -KILL "$BERTH_PID"
wait "$BERTH_PID" 2>/dev/null || true
BERTH_PID=
wait "$put_pid" 2>/dev/null || true
if s3_keys "reg/blobs/sha256/$big" | grep -q .; then fail "a blob killed mid-commit is visible"; fi
sleep 2
BERTH_STORAGE=$STORAGE "$top_builddir/berthd" gc --data "$BERTH_DATA" --grace 0 --upload-max-age 1 >"$TMP/gc2.out" 2>&1 ||
        { cat "$TMP/gc2.out"; fail "gc after the crash"; }
if s3 GET "/$BUCKET?uploads=" | grep -q "<Upload>"; then fail "the crashed commit's multipart upload survived GC"; fi
[ -z "$(ls -A "$BERTH_DATA/uploads")" ] || fail "session files survived GC: $(ls "$BERTH_DATA/uploads")"
if s3_keys "reg/blobs/sha256/$big" | grep -q .; then fail "the crashed blob appeared"; fi
pass "killed during the multipart upload: nothing visible, GC aborted the upload and removed the session"

step "berthd storage copy: a filesystem store moved into the bucket while it serves"
mv "$BERTH_DATA" "$TMP/s3-data"
berth_start
repo=$BERTH_HOST/it/moved
cp "$BERTH_CA" "$certs/ca.crt"
sk copy --quiet --preserve-digests --dest-cert-dir "$certs" "oci:$TMP/src:v1" "docker://$repo:v1" || fail "push on file"
MOVED="s3://$BUCKET/moved?endpoint=$EP&region=$BERTH_TEST_S3_REGION"
"$top_builddir/berthd" --data "$BERTH_DATA" storage copy --to "$MOVED" >"$TMP/copy1.out" 2>&1 ||
        { cat "$TMP/copy1.out"; fail "storage copy"; }
grep -q '^copied 5 blobs .* 0 already there, 0 failed' "$TMP/copy1.out" || fail "first copy: $(cat "$TMP/copy1.out")"
"$top_builddir/berthd" --data "$BERTH_DATA" storage copy --to "$MOVED" >"$TMP/copy2.out" 2>&1 || fail "second copy"
grep -q '^copied 0 blobs (0 bytes), 5 already there, 0 failed' "$TMP/copy2.out" || fail "second copy: $(cat "$TMP/copy2.out")"
berth_stop
berth_start --storage "$MOVED"
repo=$BERTH_HOST/it/moved
rm -rf "$BERTH_DATA/blobs" # nothing is read from the directory any more
rm -rf "$TMP/out4"
sk copy --quiet --preserve-digests --src-cert-dir "$certs" "docker://$repo:v1" "oci:$TMP/out4:v1" || fail "pull from the bucket"
for b in $(jq -r '.config.digest, .layers[].digest' "$TMP/raw.json"); do
        cmp -s "$TMP/src/blobs/sha256/${b#sha256:}" "$TMP/out4/blobs/sha256/${b#sha256:}" || fail "blob $b differs"
done
berth_stop
BERTH_STORAGE=$MOVED "$top_builddir/berthd" fsck --data "$BERTH_DATA" >"$TMP/fsck3.out" 2>&1 ||
        { cat "$TMP/fsck3.out"; fail "fsck after the move"; }
rm -rf "$BERTH_DATA"
mv "$TMP/s3-data" "$BERTH_DATA"
cp "$BERTH_CA" "$certs/ca.crt"
pass "copied 5 blobs, a second run copied none; the same data directory serves them from the bucket"

if [ -n "${BERTH_TEST_S3_DIR:-}" ]; then
        step "the gateway stopped during a push: clean errors, nothing visible; the push succeeds once it is back"
        berth_start --storage "$STORAGE"
        repo=$BERTH_HOST/it/s3
        head -c 3000000 /dev/urandom >"$TMP/late"
        late=sha256:$(sha256sum "$TMP/late" | cut -d' ' -f1)
        loc=$(bcurl -D - -o /dev/null -X POST "$BERTH_URL/v2/it/down/blobs/uploads/" | tr -d '\r' |
                awk 'tolower($1) == "location:" { print $2 }')
        bcurl -o /dev/null -X PATCH --data-binary "@$TMP/late" -H 'Content-Type: application/octet-stream' "$BERTH_URL$loc"
        head -c 1000 /dev/urandom >"$TMP/kept"
        kept=sha256:$(sha256sum "$TMP/kept" | cut -d' ' -f1)
        code=$(bcurl -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/octet-stream' \
                --data-binary "@$TMP/kept" "$BERTH_URL/v2/it/down/blobs/uploads/?digest=$kept")
        [ "$code" = 201 ] || fail "a blob pushed before the outage: $code"
        bash "$top_srcdir/tests/ceph-rgw.sh" rgw-stop "$BERTH_TEST_S3_DIR"
        berth_on_exit "bash '$top_srcdir/tests/ceph-rgw.sh' rgw-start '$BERTH_TEST_S3_DIR' >/dev/null 2>&1"
        code=$(bcurl -o "$TMP/down.json" -w '%{http_code}' -X PUT "$BERTH_URL$loc?digest=$late")
        [ "$code" = 503 ] || fail "PUT while the gateway is down: $code, expected 503"
        [ "$(jq -r '.errors[0].code' "$TMP/down.json")" = UNAVAILABLE ] || fail "error body: $(cat "$TMP/down.json")"
        code=$(bcurl -o /dev/null -w '%{http_code}' -I "$BERTH_URL/v2/it/down/blobs/$late")
        [ "$code" = 404 ] || fail "the blob is visible after a failed commit ($code)"
        # a blob stored before the outage: the store cannot answer, so neither can berthd
        code=$(bcurl -o "$TMP/down2.json" -w '%{http_code}' "$BERTH_URL/v2/it/down/blobs/$kept")
        [ "$code" = 503 ] && [ "$(jq -r '.errors[0].code' "$TMP/down2.json")" = UNAVAILABLE ] ||
                fail "GET of a stored blob while the gateway is down: $code $(cat "$TMP/down2.json")"
        bash "$top_srcdir/tests/ceph-rgw.sh" rgw-start "$BERTH_TEST_S3_DIR" || fail "the gateway did not come back"
        if s3_keys "reg/blobs/sha256/${late#sha256:}" | grep -q .; then fail "a half-written object is visible"; fi
        sk copy --quiet --preserve-digests --dest-cert-dir "$certs" "oci:$TMP/src:v1" "docker://$repo:again" ||
                fail "push after the gateway came back"
        code=$(bcurl -o /dev/null -w '%{http_code}' -X PUT "$BERTH_URL$loc?digest=$late")
        [ "$code" = 201 ] || fail "the same upload's PUT once the gateway is back: $code"
        bcurl -o "$TMP/late.got" "$BERTH_URL/v2/it/down/blobs/$late"
        cmp -s "$TMP/late.got" "$TMP/late" || fail "the blob pushed after the outage differs"
        berth_stop
        grep -q "object store unavailable" "$TMP/berthd.log" || fail "the outage is not in the log"
        pass "503 UNAVAILABLE while the gateway was down (a PUT, a GET of a stored blob), nothing visible; the upload completed once it was back"
fi

if [ -n "${BERTH_TEST_PG_URL:-}" ]; then
        step "two replicas on PostgreSQL and the bucket, each with its own data directory"
        BERTH_TEST_DB=pg berth_use_db
        p1=$(berth_free_port) p2=$(berth_free_port)
        for i in 1 2; do
                port=p$i
                "$top_builddir/berthd" serve --listen "127.0.0.1:${!port}" --data "$TMP/rep$i" --db "$BERTH_DB_URL" \
                        --auth none --insecure-http --metrics-listen '' --storage "$STORAGE" >>"$TMP/rep$i.log" 2>&1 &
                berth_track_pid $!
        done
        up() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz")" = 200 ]; }
        berth_wait_for 20 up "$p1" || fail "replica 1 not ready"
        berth_wait_for 20 up "$p2" || fail "replica 2 not ready"
        sk copy --quiet --preserve-digests --dest-tls-verify=false "oci:$TMP/src:v1" "docker://127.0.0.1:$p1/it/rep:v1" ||
                fail "push to replica 1"
        rm -rf "$TMP/out3"
        sk copy --quiet --preserve-digests --src-tls-verify=false "docker://127.0.0.1:$p2/it/rep:v1" "oci:$TMP/out3:v1" ||
                fail "pull from replica 2"
        for b in $(jq -r '.config.digest, .layers[].digest' "$TMP/raw.json"); do
                cmp -s "$TMP/src/blobs/sha256/${b#sha256:}" "$TMP/out3/blobs/sha256/${b#sha256:}" || fail "blob $b differs"
        done
        [ "$(find "$TMP/rep1/blobs" "$TMP/rep2/blobs" -type f | wc -l)" -eq 0 ] || fail "blob files in a replica's directory"
        pass "pushed through one replica, pulled through the other; no shared directory"

        step "a chunked upload whose PATCHes alternate between the replicas and whose PUT lands on the other"
        # 7 MiB (a part), 3 MiB (kept as a tail), 4 MiB (with the tail a part of 7), 2 MiB
        # (a tail), and the PUT's last 1 MiB: parts of at least 5 MiB, tails shorter
        for i in 1 2 3 4 5; do head -c $(( (i == 1 ? 7 : i == 2 ? 3 : i == 3 ? 4 : i == 4 ? 2 : 1) << 20 )) /dev/urandom >"$TMP/ch$i"; done
        cat "$TMP"/ch1 "$TMP"/ch2 "$TMP"/ch3 "$TMP"/ch4 "$TMP"/ch5 >"$TMP/chunked"
        chd=sha256:$(sha256sum "$TMP/chunked" | cut -d' ' -f1)
        r1=http://127.0.0.1:$p1 r2=http://127.0.0.1:$p2
        loc=$(curl -sS -D - -o /dev/null -X POST "$r1/v2/it/chunked/blobs/uploads/" | tr -d '\r' |
                awk 'tolower($1) == "location:" { print $2 }')
        uuid=${loc##*/}
        [ -n "$uuid" ] || fail "no upload location"
        off=0
        for i in 1 2 3 4; do
                rep=$r1
                [ $((i % 2)) -eq 0 ] && rep=$r2
                n=$(stat -c %s "$TMP/ch$i")
                curl -sS -D "$TMP/ph" -o /dev/null -X PATCH --data-binary "@$TMP/ch$i" -H 'Content-Type: application/octet-stream' \
                        -H "Content-Range: $off-$((off + n - 1))" "$rep$loc"
                grep -q '^HTTP/[0-9.]* 202' "$TMP/ph" || fail "PATCH $i on $rep: $(head -n 1 "$TMP/ph")"
                off=$((off + n))
                grep -qi "^range: 0-$((off - 1))" "$TMP/ph" || fail "PATCH $i: $(grep -i '^range' "$TMP/ph")"
                # the other replica sees the same state
                other=$r2
                [ "$rep" = "$r2" ] && other=$r1
                curl -sS -D "$TMP/sh" -o /dev/null "$other$loc"
                grep -qi "^range: 0-$((off - 1))" "$TMP/sh" || fail "status on the other replica after PATCH $i: $(grep -i '^range' "$TMP/sh")"
                if [ "$i" = 2 ]; then
                        # 3 MiB short of a part: a tail object, and the multipart upload holds the first 7 MiB
                        s3 GET "/$BUCKET?list-type=2" | python3 -c 'import sys, re
for k, n in re.findall(r"<Key>([^<]*)</Key>.*?<Size>([0-9]+)</Size>", sys.stdin.read()):
    if k.startswith(sys.argv[1]): print(k, n)' "reg/uploads/$uuid/" >"$TMP/tl"
                        grep -qx "reg/uploads/$uuid/tail-2 3145728" "$TMP/tl" || fail "no 3 MiB tail object: $(cat "$TMP/tl")"
                        s3 GET "/$BUCKET?uploads=" | grep -q "<Key>reg/uploads/$uuid/data</Key>" || fail "no multipart upload for the session"
                fi
        done
        [ -z "$(find "$TMP/rep1/uploads" "$TMP/rep2/uploads" -type f)" ] || fail "session files in a replica's directory"
        mark=$(wc -l <"$BERTH_TEST_S3_RGW_LOG")
        code=$(curl -sS -o "$TMP/put.json" -w '%{http_code}' -X PUT --data-binary "@$TMP/ch5" \
                -H 'Content-Type: application/octet-stream' "$r1$loc?digest=$chd")
        [ "$code" = 201 ] || fail "the final PUT on replica 1: $code $(cat "$TMP/put.json")"
        tail -n +"$((mark + 1))" "$BERTH_TEST_S3_RGW_LOG" | grep -q "GET /$BUCKET/reg/uploads/$uuid/data" &&
                fail "the commit downloaded the parts again"
        curl -sS -o "$TMP/chunked.got" "$r2/v2/it/chunked/blobs/$chd"
        cmp -s "$TMP/chunked.got" "$TMP/chunked" || fail "the blob read through replica 2 differs"
        if s3_keys "reg/uploads/$uuid/" | grep -q .; then fail "temporary objects left: $(s3_keys "reg/uploads/$uuid/")"; fi
        if s3 GET "/$BUCKET?uploads=" | grep -q "<Key>reg/uploads/$uuid/"; then fail "the multipart upload was left"; fi
        pass "17 MiB in 4 PATCHes alternating between the replicas (a part, a 3 MiB tail, a part, a 2 MiB tail), the PUT elsewhere; nothing left"

        step "64 MiB in 16 MiB chunks alternating between the replicas, the PUT on the other"
        head -c $((64 << 20)) /dev/urandom >"$TMP/big64"
        bd=sha256:$(sha256sum "$TMP/big64" | cut -d' ' -f1)
        loc=$(curl -sS -D - -o /dev/null -X POST "$r1/v2/it/big64/blobs/uploads/" | tr -d '\r' |
                awk 'tolower($1) == "location:" { print $2 }')
        buuid=${loc##*/}
        [ -n "$buuid" ] || fail "no upload location"
        for i in 0 1 2 3; do
                rep=$r1
                [ $((i % 2)) -eq 1 ] && rep=$r2
                off=$((i << 24))
                dd if="$TMP/big64" of="$TMP/big64.chunk" bs=1M skip=$((i * 16)) count=16 status=none
                curl -sS -D "$TMP/ph" -o /dev/null -X PATCH --data-binary "@$TMP/big64.chunk" \
                        -H 'Content-Type: application/octet-stream' -H "Content-Range: $off-$((off + (1 << 24) - 1))" "$rep$loc"
                grep -q '^HTTP/[0-9.]* 202' "$TMP/ph" || fail "16 MiB PATCH $i on $rep: $(head -n 1 "$TMP/ph")"
                grep -qi "^range: 0-$((off + (1 << 24) - 1))" "$TMP/ph" || fail "PATCH $i: $(grep -i '^range' "$TMP/ph")"
        done
        # the last PATCH went to replica 2: the PUT to replica 1
        code=$(curl -sS -o "$TMP/put.json" -w '%{http_code}' -X PUT "$r1$loc?digest=$bd")
        [ "$code" = 201 ] || fail "the final PUT of the 64 MiB upload: $code $(cat "$TMP/put.json")"
        curl -sS -o "$TMP/big64.got" "$r2/v2/it/big64/blobs/$bd"
        cmp -s "$TMP/big64.got" "$TMP/big64" || fail "the 64 MiB blob read through replica 2 differs"
        if s3_keys "reg/uploads/$buuid/" | grep -q .; then fail "temporary objects left: $(s3_keys "reg/uploads/$buuid/")"; fi
        if s3 GET "/$BUCKET?uploads=" | grep -q "<Key>reg/uploads/$buuid/"; then fail "the 64 MiB upload's multipart upload was left"; fi
        [ -z "$(find "$TMP/rep1/uploads" "$TMP/rep2/uploads" -type f)" ] || fail "session files in a replica's directory"
        pass "4 PATCHes of 16 MiB on replicas 1, 2, 1, 2, the PUT on 1, the blob identical through 2; nothing under uploads/"

        step "the same blob pushed again by chunks: not written twice"
        loc=$(curl -sS -D - -o /dev/null -X POST "$r2/v2/it/again/blobs/uploads/" | tr -d '\r' |
                awk 'tolower($1) == "location:" { print $2 }')
        code=$(curl -sS -o /dev/null -w '%{http_code}' -X PATCH --data-binary "@$TMP/chunked" -H 'Content-Type: application/octet-stream' "$r2$loc")
        [ "$code" = 202 ] || fail "PATCH: $code"
        mark=$(wc -l <"$BERTH_TEST_S3_RGW_LOG")
        code=$(curl -sS -o /dev/null -w '%{http_code}' -X PUT "$r1$loc?digest=$chd")
        [ "$code" = 201 ] || fail "PUT: $code"
        if tail -n +"$((mark + 1))" "$BERTH_TEST_S3_RGW_LOG" | grep -q "PUT /$BUCKET/reg/blobs/sha256/${chd#sha256:}"; then
                fail "the stored blob was written again"
        fi
        if s3 GET "/$BUCKET?uploads=" | grep -q "<Key>reg/uploads/${loc##*/}/"; then fail "the duplicate's multipart upload was left"; fi
        pass "deduplicated: the digest key not written again, the duplicate's parts aborted"

        step "an abandoned chunked upload: the expiry aborts its multipart upload and removes its objects"
        head -c $((6 << 20)) /dev/urandom >"$TMP/aband"
        loc=$(curl -sS -D - -o /dev/null -X POST "$r1/v2/it/aband/blobs/uploads/" | tr -d '\r' |
                awk 'tolower($1) == "location:" { print $2 }')
        code=$(curl -sS -o /dev/null -w '%{http_code}' -X PATCH --data-binary "@$TMP/aband" -H 'Content-Type: application/octet-stream' "$r1$loc")
        [ "$code" = 202 ] || fail "PATCH: $code"
        auuid=${loc##*/}
        s3 GET "/$BUCKET?uploads=" | grep -q "<Key>reg/uploads/$auuid/data</Key>" || fail "no multipart upload to expire"
        sleep 2
        BERTH_STORAGE=$STORAGE "$top_builddir/berthd" --data "$TMP/rep1" --db "$BERTH_DB_URL" gc --grace 3600 --upload-max-age 1 >"$TMP/gc3.out" 2>&1 ||
                { cat "$TMP/gc3.out"; fail "gc"; }
        if s3 GET "/$BUCKET?uploads=" | grep -q "<Key>reg/uploads/$auuid/"; then fail "ListMultipartUploads still lists the abandoned upload"; fi
        if s3_keys "reg/uploads/$auuid/" | grep -q .; then fail "the abandoned upload's objects are left"; fi
        code=$(curl -sS -o /dev/null -w '%{http_code}' "$r2$loc")
        [ "$code" = 404 ] || fail "the expired upload's status: $code"
        pass "ListMultipartUploads no longer lists it, its tail is gone, the session answers 404"
else
        step "no PostgreSQL (BERTH_TEST_PG_URL): the two-replica part is left out"
fi
