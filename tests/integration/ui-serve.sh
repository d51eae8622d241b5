#!/usr/bin/env bash
# The web UI's files as berthd serves them (issue 12), checked with curl: "/" sends a
# browser (Accept: text/html) to /ui/ and gives any other client the registry's 404;
# /ui/ is the page, revalidated on every load (no-cache + ETag); every asset it loads
# (and every module those import) lives under /ui/assets/<build hash>/ with a year of
# immutable caching, the right type, and the bytes of ui/ in the source tree; gzip
# when accepted (and only then), 304 for a current copy (either representation's
# ETag, weak or strong); strict security headers on every answer (a CSP without
# inline script, frame-ancestors 'none', nosniff, Referrer-Policy); 404 for anything
# else under /ui/ (an old build's hash, a missing file, a path escape), 405 for
# writes. The page needs no login: berthd runs with Basic auth here.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$(dirname "$0")/lib.sh"
berth_require curl jq gzip cmp
berth_tmpdir
berth_start --auth basic
. "$(dirname "$0")/api-common.sh"

# sec_headers WHAT: the security headers every UI answer carries
sec_headers() {
        local csp
        csp=$(hdr Content-Security-Policy)
        case $csp in
        *"default-src 'self'"*"script-src 'self'"*"frame-ancestors 'none'"*) ok "$1: CSP" ;;
        *) ko "$1: CSP is '$csp'" ;;
        esac
        case $csp in
        *unsafe-inline* | *unsafe-eval* | *"*"* | *http:* | *https:*) ko "$1: CSP allows too much: $csp" ;;
        esac
        expect_hdr X-Content-Type-Options nosniff "$1: nosniff"
        expect_hdr X-Frame-Options DENY "$1: X-Frame-Options"
        expect_hdr Referrer-Policy no-referrer "$1: Referrer-Policy"
}

step "/ : a browser goes to /ui/, other clients get the registry's 404"
req GET / -H 'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'
expect_status 302 "browser at /"
expect_hdr Location /ui/ "redirected to /ui/"
expect_hdr_re Vary '(^|, *)Accept($|,)' "the redirect varies by Accept"
expect_hdr Cache-Control no-store "the redirect is not cached"
sec_headers "redirect"
req GET /
expect_err 404 NOT_FOUND "curl at / (Accept */*)"
req GET / -H 'Accept: application/json'
expect_err 404 NOT_FOUND "a JSON client at /"
req GET / -H 'Accept: text/html;q=0'
expect_status 404 "text/html refused with q=0"
req GET /ui
expect_status 302 "/ui"
expect_hdr Location /ui/ "/ui goes to /ui/"
req POST /ui/ -d x
expect_status 405 "POST /ui/"
req DELETE /ui/assets/x
expect_status 405 "DELETE under /ui/"

step "the page"
req GET /ui/
expect_status 200 "GET /ui/ without credentials"
expect_hdr_re Content-Type '^text/html; charset=utf-8$' "page type"
expect_hdr Cache-Control no-cache "page revalidated on each load"
expect_hdr_re ETag '^"[0-9a-f]{20}"$' "page ETag"
expect_no_hdr Content-Encoding "no gzip unless asked"
expect_no_hdr Set-Cookie "no cookie from the page"
sec_headers "page"
cp "$API_B" "$TMP/index.html"
page_etag=$(hdr ETag)
page_len=$(fsize "$TMP/index.html")
grep -q '<label\|<form\|<script type="module" src="/ui/assets/' "$TMP/index.html" || ko "the page loads no module"
# no inline script, style or handler: the CSP would block them
if grep -Eq '<script[^>]*>[^<]|<script>|<style|style=|[[:space:]]on[a-z]+=|javascript:' "$TMP/index.html"; then
        ko "inline script or style in the page"
else
        ok "no inline script or style in the page"
fi
hash=$(grep -oE '/ui/assets/[0-9a-f]{16}/app\.js' "$TMP/index.html" | head -1 | cut -d/ -f4)
[ -n "$hash" ] && ok "build hash $hash" || ko "no /ui/assets/<hash>/app.js in the page"
req GET /ui/index.html
expect_status 200 "/ui/index.html is the page too"
req HEAD /ui/
expect_status 200 "HEAD /ui/"
expect_hdr Content-Length "$page_len" "HEAD gives the length"

step "the assets: every file the page and its modules load"
# the page's src/href under /ui/assets/, then the imports of each module, transitively
grep -oE '(src|href)="/ui/assets/[^"]+"' "$TMP/index.html" | sed -E 's/^[a-z]+="//; s/"$//' | sort -u >"$TMP/todo"
: >"$TMP/done"
n=0
while [ -s "$TMP/todo" ]; do
        p=$(head -1 "$TMP/todo")
        sed -i 1d "$TMP/todo"
        grep -qxF "$p" "$TMP/done" && continue
        echo "$p" >>"$TMP/done"
        n=$((n + 1))
        name=${p#/ui/assets/$hash/}
        req GET "$p"
        if [ "$STATUS" != 200 ]; then
                ko "$p: status $STATUS"
                continue
        fi
        expect_hdr Cache-Control "public, max-age=31536000, immutable" "$name: cached for a year"
        expect_hdr_re ETag '^"[0-9a-f]{20}"$' "$name: ETag"
        case $name in
        *.js) want='^text/javascript; charset=utf-8$' ;;
        *.css) want='^text/css; charset=utf-8$' ;;
        *.svg) want='^image/svg\+xml$' ;;
        *) want=. ;;
        esac
        expect_hdr_re Content-Type "$want" "$name: type"
        sec_headers "$name" >/dev/null
        [ "$(hdr X-Content-Type-Options)" = nosniff ] || ko "$name: no nosniff"
        # byte for byte the file of the source tree
        cmp -s "$API_B" "$top_srcdir/ui/assets/$name" || ko "$name: served bytes differ from ui/assets/$name"
        # relative imports of a module: import ... from './x.js' and import('./x.js')
        if [ "${name%.js}" != "$name" ]; then
                dir=$(dirname "$p")
                grep -oE "(from|import)[[:space:]]*\(?[[:space:]]*'\./[^']+'|(from|import)[[:space:]]*\(?[[:space:]]*'\.\./[^']+'" "$API_B" |
                        grep -oE "'[^']+'" | tr -d "'" | while read -r rel; do
                        # resolve ./ and ../ against the module's directory
                        target=$dir/$rel
                        while [[ $target == */./* ]]; do target=${target/\/.\//\/}; done
                        while [[ $target =~ /[^/]+/\.\./ ]]; do target=${target/${BASH_REMATCH[0]}//}; done
                        echo "$target"
                done >>"$TMP/todo"
        fi
done
[ "$n" -ge 10 ] && ok "$n assets loaded" || ko "only $n assets found from the page"
grep -q "/views/repository.js$" "$TMP/done" || ko "the module graph misses views/repository.js"
grep -q "/views/webhooks.js$" "$TMP/done" || ko "the module graph misses views/webhooks.js"

step "compression"
asset=/ui/assets/$hash/app.css
req GET "$asset"
cp "$API_B" "$TMP/plain.css"
plain_etag=$(hdr ETag)
expect_hdr Vary Accept-Encoding "Vary: Accept-Encoding"
req GET "$asset" -H 'Accept-Encoding: gzip, deflate, br'
expect_hdr Content-Encoding gzip "gzip when accepted"
gz_etag=$(hdr ETag)
[ "$gz_etag" != "$plain_etag" ] && ok "the gzip copy has its own ETag" || ko "gzip and identity share ETag $gz_etag"
gzip -dc <"$API_B" >"$TMP/unz.css" 2>/dev/null && cmp -s "$TMP/unz.css" "$TMP/plain.css" &&
        ok "gzip body decompresses to the file" || ko "gzip body is not the file compressed"
[ "$(fsize "$API_B")" -lt "$(fsize "$TMP/plain.css")" ] && ok "smaller compressed" || ko "gzip copy not smaller"
req GET "$asset" -H 'Accept-Encoding: gzip;q=0, br'
expect_no_hdr Content-Encoding "gzip;q=0: identity"
req GET "$asset" -H 'Accept-Encoding: identity'
expect_no_hdr Content-Encoding "identity only"
req GET "$asset" -H 'Accept-Encoding: *'
expect_hdr Content-Encoding gzip "* takes gzip"
req GET "$asset" -H "Accept-Encoding: gzip$(printf ' %.0s' $(seq 1 9000))"
expect_status 200 "an over-long Accept-Encoding"
expect_no_hdr Content-Encoding "an over-long Accept-Encoding counts as absent"
req GET /ui/ -H 'Accept-Encoding: gzip'
expect_hdr Content-Encoding gzip "the page gzipped too"

step "conditional requests"
req GET "$asset" -H "If-None-Match: $plain_etag"
expect_status 304 "If-None-Match with the ETag"
[ "$(fsize "$API_B")" = 0 ] && ok "304 without a body" || ko "304 with a body"
expect_hdr ETag "$plain_etag" "304 names the ETag"
expect_hdr Cache-Control "public, max-age=31536000, immutable" "304 keeps Cache-Control"
req GET "$asset" -H "If-None-Match: $gz_etag"
expect_status 304 "identity request, gzip copy's ETag: still current"
req GET "$asset" -H "Accept-Encoding: gzip" -H "If-None-Match: W/$gz_etag"
expect_status 304 "weak form of the ETag"
expect_hdr ETag "$gz_etag" "304 names the gzip ETag to a gzip client"
req GET "$asset" -H "If-None-Match: \"nope\", $plain_etag"
expect_status 304 "ETag second in a list"
req GET "$asset" -H 'If-None-Match: *'
expect_status 304 "If-None-Match: *"
req GET "$asset" -H 'If-None-Match: "0000"'
expect_status 200 "another ETag: the body"
req GET /ui/ -H "If-None-Match: $page_etag"
expect_status 304 "the page revalidated"
sec_headers "304"

step "404s"
for p in /ui/nope /ui/assets/ /ui/assets/$hash /ui/assets/$hash/ /ui/assets/$hash/nope.js \
        /ui/assets/0000000000000000/app.js /ui/assets/${hash}x/app.js /ui/assets/$hash/views \
        /ui/assets/$hash/../index.html /ui/assets/$hash/views/../app.js /ui/assets/$hash//app.js \
        /ui/assets/$hash/app.js/ /ui/favicon.svg; do
        req GET "$p" --path-as-is
        expect_err 404 NOT_FOUND "GET $p"
done
req GET /ui/assets/0000000000000000/app.js
expect_hdr Cache-Control no-store "an old build's asset: 404 not cached"
sec_headers "404"

step "the registry is unchanged"
req GET /v2/
expect_err 401 UNAUTHORIZED "/v2/ still asks for credentials"
req GET /healthz
expect_status 200 "/healthz"

api_done
