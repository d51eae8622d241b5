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
openssl x509 -in "$BERTH_DATA/tls/server.crt" -noout -text | grep -q 'id-ecPublicKey' ||
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
