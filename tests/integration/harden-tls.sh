#!/usr/bin/env bash
# berthd's TLS offers TLS 1.3, and on TLS 1.2 only ECDHE key exchange with AEAD ciphers
# (AES-GCM, ChaCha20-Poly1305): no CBC, no SHA-1 MAC, no static RSA or finite-field DHE
# key exchange, nothing below TLS 1.2. Checked suite by suite with openssl s_client, for
# the generated EC certificate and for an RSA certificate given with --tls-cert. Each
# suite that must be refused is first shown to work against an openssl s_server that
# offers everything, so a refusal is berthd's and not the client's.
. "$(dirname "$0")/lib.sh"
berth_require curl openssl
berth_tmpdir

# handshake HOST:PORT ARGS...: prints the negotiated "protocol cipher"; fails if none.
handshake() {
        local hp=$1 out
        shift
        out=$(timeout 10 openssl s_client -brief -connect "$hp" "$@" </dev/null 2>&1) || return 1
        printf '%s\n' "$out" | awk '/^Protocol version: / { p = $3 } /^Ciphersuite: / { c = $2 }
                END { if (p == "" || c == "") exit 1; print p, c }'
}

# a permissive reference server with the same key, for the refusal controls
REF_PORT=
ref_start() {
        local cert=$1 key=$2
        REF_PORT=$(berth_free_port) || fail "no free port"
        openssl s_server -accept "127.0.0.1:$REF_PORT" -cert "$cert" -key "$key" -quiet \
                -cipher 'ALL:@SECLEVEL=0' -dhparam "$TMP/dh.pem" >"$TMP/s_server.log" 2>&1 </dev/null &
        REF_PID=$!
        berth_track_pid "$REF_PID"
        for _ in $(seq 1 50); do
                timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$REF_PORT" 2>/dev/null && return 0
                sleep 0.1
        done
        fail "openssl s_server did not start"
}
ref_stop() { kill "$REF_PID" 2>/dev/null; wait "$REF_PID" 2>/dev/null; }

# accepted SUITE...: each TLS 1.2 suite negotiates with berthd.
accepted() {
        local s got
        for s in "$@"; do
                got=$(handshake "$BERTH_HOST" -tls1_2 -cipher "$s") || fail "TLS 1.2 $s refused"
                [ "$got" = "TLSv1.2 $s" ] || fail "TLS 1.2 $s: negotiated $got"
        done
        pass "TLS 1.2 accepted: $*"
}

# refused SUITE...: each TLS 1.2 suite works against the reference server, not with berthd.
refused() {
        local s got
        for s in "$@"; do
                got=$(handshake "127.0.0.1:$REF_PORT" -tls1_2 -cipher "$s:@SECLEVEL=0") ||
                        fail "control: the reference server refuses $s (client cannot test it)"
                [ "$got" = "TLSv1.2 $s" ] || fail "control: $s negotiated $got"
                if got=$(handshake "$BERTH_HOST" -tls1_2 -cipher "$s:@SECLEVEL=0"); then
                        fail "TLS 1.2 $s accepted by berthd ($got)"
                fi
        done
        pass "TLS 1.2 refused: $*"
}

tls13() {
        local s got
        for s in TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256; do
                got=$(handshake "$BERTH_HOST" -tls1_3 -ciphersuites "$s") || fail "TLS 1.3 $s refused"
                [ "$got" = "TLSv1.3 $s" ] || fail "TLS 1.3 $s: negotiated $got"
        done
        pass "TLS 1.3 accepted (AES-GCM, ChaCha20-Poly1305)"
}

old_versions() {
        local v got
        for v in -tls1 -tls1_1; do
                got=$(handshake "127.0.0.1:$REF_PORT" "$v" -cipher 'ALL:@SECLEVEL=0') ||
                        fail "control: the reference server refuses $v"
                if got=$(handshake "$BERTH_HOST" "$v" -cipher 'ALL:@SECLEVEL=0'); then
                        fail "$v accepted by berthd ($got)"
                fi
        done
        pass "TLS 1.0 and 1.1 refused"
}

openssl dhparam -dsaparam -out "$TMP/dh.pem" 2048 >/dev/null 2>&1 || fail "openssl dhparam"

step "the generated certificate (EC P-256)"
berth_start
grep -q 'id-ecPublicKey' <(openssl x509 -in "$BERTH_DATA/tls/server.crt" -noout -text) ||
        fail "the generated server key is not EC: the suites below do not apply"
ref_start "$BERTH_DATA/tls/server.crt" "$BERTH_DATA/tls/server.key"
accepted ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES256-GCM-SHA384 ECDHE-ECDSA-CHACHA20-POLY1305
refused ECDHE-ECDSA-AES128-SHA ECDHE-ECDSA-AES256-SHA ECDHE-ECDSA-AES128-SHA256 ECDHE-ECDSA-AES256-SHA384
tls13
old_versions
[ "$(bcurl -o /dev/null -w '%{http_code}' "$BERTH_URL/healthz")" = 200 ] || fail "curl cannot reach berthd"
pass "curl still connects"
ref_stop
berth_stop

step "the generated CA signs for the server's names only (name constraints, pathlen 0)"
tls=$BERTH_DATA/tls
# sign_with_ca NAME SANS ISSUER_CRT ISSUER_KEY [EXT]: $TMP/NAME.crt, a fresh key, for SANS
sign_with_ca() {
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
                -keyout "$TMP/$1.key" -out "$TMP/$1.csr" >/dev/null 2>&1 || fail "openssl: CSR for $1"
        printf 'subjectAltName=%s\n%s\n' "$2" "${5:-extendedKeyUsage=serverAuth}" >"$TMP/$1.ext"
        openssl x509 -req -in "$TMP/$1.csr" -CA "$3" -CAkey "$4" -set_serial 9 -days 2 \
                -extfile "$TMP/$1.ext" -out "$TMP/$1.crt" >/dev/null 2>&1 || fail "openssl: sign $1"
}
sign_with_ca good "DNS:localhost,IP:127.0.0.1" "$tls/ca.crt" "$tls/ca.key"
openssl verify -purpose sslserver -CAfile "$tls/ca.crt" "$TMP/good.crt" >/dev/null 2>&1 ||
        fail "control: a certificate for localhost signed with ca.key does not verify"
sign_with_ca evil "DNS:evil.example" "$tls/ca.crt" "$tls/ca.key"
if openssl verify -purpose sslserver -CAfile "$tls/ca.crt" "$TMP/evil.crt" >"$TMP/verify.out" 2>&1; then
        fail "a certificate for evil.example signed with ca.key verifies against ca.crt"
fi
grep -q 'permitted subtree violation' "$TMP/verify.out" || { cat "$TMP/verify.out"; fail "not refused for its name"; }
sign_with_ca evilip "IP:192.0.2.7" "$tls/ca.crt" "$tls/ca.key"
if openssl verify -purpose sslserver -CAfile "$tls/ca.crt" "$TMP/evilip.crt" >/dev/null 2>&1; then
        fail "a certificate for 192.0.2.7 signed with ca.key verifies against ca.crt"
fi
sign_with_ca mid "DNS:localhost" "$tls/ca.crt" "$tls/ca.key" \
        $'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign'
sign_with_ca leaf "DNS:localhost" "$TMP/mid.crt" "$TMP/mid.key"
if openssl verify -purpose sslserver -CAfile "$tls/ca.crt" -untrusted "$TMP/mid.crt" "$TMP/leaf.crt" \
        >"$TMP/verify.out" 2>&1; then
        fail "an intermediate CA below ca.crt is accepted"
fi
grep -q 'path length' "$TMP/verify.out" || { cat "$TMP/verify.out"; fail "not refused for the path length"; }
pass "openssl verify: localhost verifies; evil.example, 192.0.2.7 and an intermediate CA do not"

step "a --tls-san the CA does not cover stops the start, and the CA stays"
cp "$tls/ca.crt" "$TMP/ca-before.crt"
rc=0
timeout 30 "$top_builddir/berthd" serve --listen "127.0.0.1:$(berth_free_port)" --data "$BERTH_DATA" \
        --auth none --tls-san new.example.test >"$TMP/refused.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat "$TMP/refused.log"; fail "berthd with an uncovered --tls-san: exit $rc, want 1"; }
grep -q "may not sign for 'new.example.test'" "$TMP/refused.log" || { cat "$TMP/refused.log"; fail "no clear message"; }
cmp -s "$tls/ca.crt" "$TMP/ca-before.crt" || fail "the CA changed"
pass "refused with a message naming the name; ca.crt unchanged"

step "an RSA certificate given with --tls-cert"
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$TMP/rsa.key" -out "$TMP/rsa.csr" \
        >/dev/null 2>&1 || fail "openssl: RSA CSR"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$TMP/rsa.ext"
openssl x509 -req -in "$TMP/rsa.csr" -CA "$BERTH_DATA/tls/ca.crt" -CAkey "$BERTH_DATA/tls/ca.key" \
        -set_serial 7 -days 2 -extfile "$TMP/rsa.ext" -out "$TMP/rsa.crt" >/dev/null 2>&1 ||
        fail "openssl: sign the RSA certificate"
berth_start --tls-cert "$TMP/rsa.crt" --tls-key "$TMP/rsa.key"
ref_start "$TMP/rsa.crt" "$TMP/rsa.key"
accepted ECDHE-RSA-AES128-GCM-SHA256 ECDHE-RSA-AES256-GCM-SHA384 ECDHE-RSA-CHACHA20-POLY1305
# CBC with SHA-1 or SHA-2, static RSA key exchange (even with GCM), finite-field DHE
refused AES128-SHA AES256-SHA AES256-SHA256 AES128-GCM-SHA256 AES256-GCM-SHA384 \
        ECDHE-RSA-AES128-SHA ECDHE-RSA-AES256-SHA384 DHE-RSA-AES128-GCM-SHA256 DHE-RSA-AES128-SHA
tls13
old_versions
ref_stop
berth_stop
pass "TLS offers only ECDHE + AEAD on TLS 1.2, and TLS 1.3"
