/* server/ui.c: the web UI at /ui/ (issue 12). One page, /ui/ (index.html, revalidated
 * on every load: Cache-Control no-cache plus its ETag), which loads the scripts and
 * styles from /ui/assets/<build hash>/: those never change under their URL, so they
 * are cached for a year (immutable). Every answer carries a strict
 * Content-Security-Policy (no inline script, nothing from another origin, no framing)
 * and the other security headers. "/" sends a browser (Accept: text/html) to /ui/;
 * any other client gets the 404 it always got. No authentication here: the page is
 * public, and all data comes from /api/v1/, which checks the caller. */
#include <string.h>
#include "server/negotiate.h"
#include "server/server.h"
#include "server/ui.h"

#define CSP "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
            "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; " \
            "form-action 'self'; frame-ancestors 'none'"
#define CACHE_IMMUTABLE "public, max-age=31536000, immutable"
#define ASSETS_PREFIX "/ui/assets/"

const ui_asset_t *ui_asset_find(const char *name, size_t len) {
        for (size_t i = 0; i < ui_n_assets; i++)
                if (strlen(ui_assets[i].name) == len && memcmp(ui_assets[i].name, name, len) == 0)
                        return &ui_assets[i];
        return NULL;
}

static void security_headers(request_t *req) {
        reply_header(req, "Content-Security-Policy", CSP);
        reply_header(req, "X-Content-Type-Options", "nosniff");
        reply_header(req, "X-Frame-Options", "DENY");
        reply_header(req, "Referrer-Policy", "no-referrer");
        reply_header(req, "Cross-Origin-Opener-Policy", "same-origin");
        reply_header(req, "Cross-Origin-Resource-Policy", "same-origin");
        reply_header(req, "Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()");
}

/* the registry's 404 (the OCI error format, as for every path berthd does not know) */
static void not_found(request_t *req) {
        reply_error(req, 404, "NOT_FOUND", "not found", NULL);
        security_headers(req);
        reply_header(req, "Cache-Control", "no-store");
}

static void redirect(request_t *req, const char *to) {
        reply_static(req, 302, "", 0, NULL);
        reply_header(req, "Location", to);
        reply_header(req, "Cache-Control", "no-store");
        security_headers(req);
}

/* Serve a (gzip when the client takes it and it is smaller; 304 when its copy is
 * current). */
static void serve(request_t *req, const ui_asset_t *a, const char *cache_control) {
        bool gz = a->gz && negotiate_accepts_gzip(req_header(req, MHD_HTTP_HEADER_ACCEPT_ENCODING));
        const char *etag = gz ? a->etag_gz : a->etag;
        const char *inm = req_header(req, MHD_HTTP_HEADER_IF_NONE_MATCH);

        /* either representation's tag proves the client holds this version */
        if (negotiate_etag_match(inm, a->etag) || (a->gz && negotiate_etag_match(inm, a->etag_gz)))
                reply_static(req, 304, "", 0, NULL);
        else if (gz)
                reply_static(req, 200, a->gz, a->gz_len, a->content_type);
        else
                reply_static(req, 200, a->data, a->len, a->content_type);
        if (gz && req->status == 200)
                reply_header(req, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
        reply_header(req, MHD_HTTP_HEADER_ETAG, etag);
        reply_header(req, MHD_HTTP_HEADER_CACHE_CONTROL, cache_control);
        if (a->gz)
                reply_header(req, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
        security_headers(req);
}

static void ui_begin(request_t *req) {
        const char *p = req->path;
        size_t hl = strlen(ui_build_hash);

        if (strcmp(p, "/") == 0) {
                if (negotiate_accepts_html(req_header(req, MHD_HTTP_HEADER_ACCEPT))) {
                        redirect(req, "/ui/");
                        reply_header(req, MHD_HTTP_HEADER_VARY, "Accept");
                } else {
                        /* not a browser: the registry's 404, as before the UI */
                        reply_error(req, 404, "NOT_FOUND", "not found", NULL);
                        reply_header(req, MHD_HTTP_HEADER_VARY, "Accept");
                }
                return;
        }
        if (strcmp(p, "/ui") == 0) {
                redirect(req, "/ui/");
                return;
        }
        if (strcmp(p, "/ui/") == 0 || strcmp(p, "/ui/index.html") == 0) {
                serve(req, ui_asset_find("index.html", 10), "no-cache");
                return;
        }
        /* /ui/assets/<hash>/<name>: only this build's hash (an old page's assets are
         * gone; serving today's bytes under yesterday's immutable URL would poison
         * caches) */
        if (strncmp(p, ASSETS_PREFIX, strlen(ASSETS_PREFIX)) == 0) {
                const char *h = p + strlen(ASSETS_PREFIX), *name = h + hl + 1;
                char full[128];
                int n;

                if (strncmp(h, ui_build_hash, hl) == 0 && h[hl] == '/' && *name &&
                    (n = snprintf(full, sizeof(full), "assets/%s", name)) > 0 && (size_t) n < sizeof(full)) {
                        const ui_asset_t *a = ui_asset_find(full, (size_t) n);
                        if (a) {
                                serve(req, a, CACHE_IMMUTABLE);
                                return;
                        }
                }
        }
        not_found(req);
}

const route_ops_t route_ui = { .name = "ui", .flags = ROUTE_OPEN, .begin = ui_begin };
