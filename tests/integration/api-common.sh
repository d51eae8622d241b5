# Helpers shared by the API integration scripts (api-core.sh, api-v11.sh).
# Sourced after lib.sh, berth_tmpdir and berth_start. Assertions record a
# failure and go on, so one run lists every broken behaviour; api_done exits
# non-zero when any assertion failed.

API_FAILS=0
API_H=$TMP/api-headers
API_B=$TMP/api-body

ok() { printf 'ok   %s\n' "$*"; }
ko() { printf 'FAIL %s\n' "$*"; API_FAILS=$((API_FAILS + 1)); }
api_done() {
  if [ "$API_FAILS" -ne 0 ]; then fail "$API_FAILS assertion(s) failed"; fi
  pass "all assertions passed"
}

# url PATH-OR-URL: absolute URLs (e.g. a Location) are used as given
url() { case $1 in http://*|https://*) printf '%s' "$1" ;; *) printf '%s%s' "$BERTH_URL" "$1" ;; esac; }
# addq URL QUERY: append a query parameter to a URL that may already have some
addq() { case $1 in *\?*) printf '%s&%s' "$1" "$2" ;; *) printf '%s?%s' "$1" "$2" ;; esac; }

# req METHOD PATH-OR-URL [curl args...]: sets STATUS; headers in $API_H, body in $API_B
req() {
  local m=$1 u; u=$(url "$2"); shift 2
  : >"$API_H"; : >"$API_B"
  if [ "$m" = HEAD ]; then
    STATUS=$(bcurl --head -D "$API_H" -o /dev/null -w '%{http_code}' "$@" "$u") || true
  else
    STATUS=$(bcurl -X "$m" -D "$API_H" -o "$API_B" -w '%{http_code}' "$@" "$u") || true
  fi
  [ -n "$STATUS" ] || STATUS=000
}
# hdr NAME: value of the last NAME header of the last response (empty when absent)
hdr() {
  tr -d '\r' <"$API_H" | awk -v n="$1" 'BEGIN{n=tolower(n)}
    { i=index($0,":"); if (i && tolower(substr($0,1,i-1))==n) { v=substr($0,i+1); sub(/^[ \t]+/,"",v); sub(/[ \t]+$/,"",v); last=v } }
    END{ if (last!="") print last }'
}
# hdr_all NAME: every value of NAME, one a line
hdr_all() {
  tr -d '\r' <"$API_H" | awk -v n="$1" 'BEGIN{n=tolower(n)}
    { i=index($0,":"); if (i && tolower(substr($0,1,i-1))==n) { v=substr($0,i+1); sub(/^[ \t]+/,"",v); sub(/[ \t]+$/,"",v); print v } }'
}
has_hdr() { tr -d '\r' <"$API_H" | grep -qi "^$1:"; }

# expect_status WANT... MSG (WANT may list several codes, the last word is the message)
expect_status() {
  local msg=${*: -1} w
  for w in "${@:1:$#-1}"; do [ "$STATUS" = "$w" ] && { ok "$msg ($STATUS)"; return 0; }; done
  ko "$msg: status $STATUS, want ${*:1:$#-1}; body: $(head -c 300 "$API_B")"; return 1
}
expect_hdr() { # NAME WANT MSG
  local v; v=$(hdr "$1")
  if [ "$v" = "$2" ]; then ok "$3"; else ko "$3: header $1 is '$v', want '$2'"; fi
}
expect_hdr_re() { # NAME ERE MSG
  local v; v=$(hdr "$1")
  if grep -Eq "$2" <<<"$v"; then ok "$3"; else ko "$3: header $1 is '$v', want /$2/"; fi
}
expect_no_hdr() { # NAME MSG
  if has_hdr "$1"; then ko "$2: unexpected header $1: $(hdr "$1")"; else ok "$2"; fi
}
# expect_code CODE MSG: the OCI error body holds CODE
expect_code() {
  local codes; codes=$(jq -r '.errors[].code' <"$API_B" 2>/dev/null | tr '\n' ' ')
  case " $codes" in *" $1 "*) ok "$2: $1" ;; *) ko "$2: error codes '$codes', want $1; body: $(head -c 300 "$API_B")" ;; esac
}
# expect_err STATUS CODE MSG
expect_err() { expect_status "$1" "$3" && expect_code "$2" "$3"; }
expect_eq() { # GOT WANT MSG
  if [ "$1" = "$2" ]; then ok "$3"; else ko "$3: got '$1', want '$2'"; fi
}
expect_body_file() { # FILE MSG: the body equals FILE byte for byte
  if cmp -s "$API_B" "$1"; then ok "$2"; else ko "$2: body differs ($(wc -c <"$API_B") bytes, want $(wc -c <"$1"))"; fi
}

sha256_of() { printf 'sha256:%s' "$(sha256sum "$1" | cut -d' ' -f1)"; }
sha512_of() { printf 'sha512:%s' "$(sha512sum "$1" | cut -d' ' -f1)"; }
fsize() { wc -c <"$1" | tr -d ' '; }
randfile() { head -c "$2" /dev/urandom >"$1"; } # FILE BYTES
body_digest() { sha256_of "$API_B"; }

# The stored blobs' names (hex), one a line: the files under DATA/blobs, or what the
# command in BERTH_TEST_BLOB_LS prints (a server whose blobs are objects in S3: s3.sh)
blob_names() {
        if [ -n "${BERTH_TEST_BLOB_LS:-}" ]; then
                bash -c "$BERTH_TEST_BLOB_LS"
        else
                find "$BERTH_DATA/blobs" -type f -printf '%f\n' 2>/dev/null
        fi
}
# number of blobs in the blob store
blob_count() { blob_names | wc -l | tr -d ' '; }
# copies of a blob (by hex) in the store
blob_copies() { blob_names | grep -cx "${1#*:}" | tr -d ' '; }

# push_blob REPO FILE: monolithic POST ?digest=, sets DIG; counts as an assertion
push_blob() {
  DIG=$(sha256_of "$2")
  req POST "/v2/$1/blobs/uploads/?digest=$DIG" -H 'Content-Type: application/octet-stream' --data-binary "@$2"
  if [ "$STATUS" != 201 ]; then
    # a registry may answer 202 to a single POST: finish with PUT
    if [ "$STATUS" = 202 ] && [ -n "$(hdr Location)" ]; then
      req PUT "$(addq "$(url "$(hdr Location)")" "digest=$DIG")" -H 'Content-Type: application/octet-stream' --data-binary "@$2"
    fi
  fi
  expect_status 201 "push blob $(basename "$2") to $1"
}
# push_manifest REPO REF FILE TYPE: sets MDIG; counts as an assertion
push_manifest() {
  MDIG=$(sha256_of "$3")
  req PUT "/v2/$1/manifests/$2" -H "Content-Type: $4" --data-binary "@$3"
  expect_status 201 "push manifest $(basename "$3") to $1:$2"
}
# descriptor TYPE FILE: a JSON descriptor for FILE
descriptor() { printf '{"mediaType":"%s","digest":"%s","size":%s}' "$1" "$(sha256_of "$2")" "$(fsize "$2")"; }

ACCEPT_ALL='Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json'
T_OCI=application/vnd.oci.image.manifest.v1+json
T_OCIIDX=application/vnd.oci.image.index.v1+json
T_D2=application/vnd.docker.distribution.manifest.v2+json
T_DLIST=application/vnd.docker.distribution.manifest.list.v2+json
