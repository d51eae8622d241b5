/* tests/unit/server-fixture.h: what the tests of berthd's handlers share: the
 * server on a scratch data directory (plain HTTP, --auth none, a loopback port
 * chosen by the kernel, the test clock), one request per connection through a
 * socket, and pushes of blobs, manifests and upload sessions. Header-only, as
 * fixture.h; include it after cmocka.h. */
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include "common/digest.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/manifest.h"
#include "server/http.h"
#include "server/server.h"
#include "storage/blobstore.h"
#include "fixture.h"

typedef struct {
        char dir[256];
        config_t cfg;
        server_t srv;
        uint16_t port;
        fx_clock_t clock; /* the server's clock: the wall clock plus an offset */
} fixture_t;

typedef struct {
        unsigned status;
        char *raw;        /* head and body */
        const char *body;
        size_t body_len;
} resp_t;

/* The server on a scratch data directory; extra: more options (NULL-terminated);
 * bs: the blob store's driver (NULL: the directory's files; taken in any case). */
static inline int setup_driver(void **state, const char *const *extra, blobstore_t *bs) {
        fixture_t *f = calloc(1, sizeof(*f));
        char data[300];
        char *argv[24] = { "berthd", "--insecure-http", "--auth", "none", "--listen", "127.0.0.1:5000",
                           "--threads", "2", "--upload-max-age", "60", "--log-level", "error", data };
        int argc = 13;
        const union MHD_DaemonInfo *di;

        for (; extra && *extra && argc < (int) ELEMENTSOF(argv) - 1; extra++)
                argv[argc++] = (char *) *extra;
        if (!f || fx_tmpdir(f->dir, sizeof(f->dir), "server") < 0)
                return -1;
        snprintf(data, sizeof(data), "--data=%s", f->dir);
        if (config_parse(argc, argv, &f->cfg) != 0)
                return -1;
        f->cfg.port = 0; /* any free port: asked below */
        log_max_level = f->cfg.log_level;
        f->srv.cfg = &f->cfg;
        f->srv.now = fx_clock_now;
        f->srv.now_userdata = &f->clock;
        if (bs) {
                if (store_open_with(f->dir, bs, &f->srv.store) < 0)
                        return -1;
                store_set_clock(f->srv.store, fx_clock_now, &f->clock);
        } else if (fx_store_open(f->dir, NULL, &f->clock, &f->srv.store) < 0) {
                return -1;
        }
        /* the server's database is auth's (server_db) */
        if (auth_open(f->dir,
                      &(auth_options_t) { .mode = AUTH_MODE_NONE, .now = fx_clock_now, .now_userdata = &f->clock },
                      &f->srv.auth) < 0)
                return -1;
        if (http_start(&f->srv, NULL, NULL) < 0)
                return -1;
        di = MHD_get_daemon_info(f->srv.daemon, MHD_DAEMON_INFO_BIND_PORT);
        if (!di || !di->port)
                return -1;
        f->port = di->port;
        *state = f;
        return 0;
}

static inline int setup_with(void **state, const char *const *extra) {
        return setup_driver(state, extra, NULL);
}

static inline int setup(void **state) {
        return setup_with(state, NULL);
}

/* Blobs of at most 16 bytes, deletes disabled. */
static inline int setup_limits(void **state) {
        static const char *const extra[] = { "--blob-max-size", "16", "--no-delete", NULL };
        return setup_with(state, extra);
}

static inline int teardown(void **state) {
        fixture_t *f = *state;

        http_drain_and_stop(&f->srv);
        auth_free(f->srv.auth);
        store_free(f->srv.store);
        config_done(&f->cfg);
        fx_rmtree(f->dir);
        free(f);
        return 0;
}

/* One request on its own connection; extra: more header lines, each ending in \r\n.
 * strict: every step must work and an answer come; otherwise a server that closes
 * the connection early (or answers before the body is sent) gives what it sent,
 * and no answer at all is status 0 with an empty body. */
static inline resp_t http_io(fixture_t *f, const char *method, const char *path, const char *extra,
                             const void *body, size_t body_len, bool strict) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(f->port) };
        struct timeval tv = { .tv_sec = 10 };
        char *head = NULL, *buf = NULL, *p;
        size_t len = 0, cap = 0;
        resp_t r = { 0 };
        char clen[48] = "";
        int fd, n;
        ssize_t sent;

        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
        assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        /* with Transfer-Encoding in extra, body is sent as it is (already chunked) */
        if (!extra || !strcasestr(extra, "Transfer-Encoding:"))
                snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n", body_len);
        n = asprintf(&head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n%s%s\r\n", method, path,
                     f->port, extra ? extra : "", clen);
        assert_true(n > 0);
        sent = send(fd, head, (size_t) n, MSG_NOSIGNAL);
        if (strict)
                assert_int_equal(sent, n);
        if (body_len && sent == n) {
                sent = send(fd, body, body_len, MSG_NOSIGNAL);
                if (strict)
                        assert_int_equal(sent, (ssize_t) body_len);
        }
        free(head);
        for (;;) {
                ssize_t got;
                if (cap - len < 4096) {
                        cap = cap ? cap * 2 : 8192;
                        buf = realloc(buf, cap + 1);
                        assert_non_null(buf);
                }
                got = recv(fd, buf + len, cap - len, 0);
                if (strict)
                        assert_true(got >= 0);
                else if (got < 0 && errno == EAGAIN)
                        fail_msg("no answer from the server within 10 s");
                if (got <= 0)
                        break;
                len += (size_t) got;
        }
        close(fd);
        buf[len] = '\0';
        r.raw = buf;
        p = strstr(buf, "\r\n\r\n");
        if (strict) {
                assert_int_equal(sscanf(buf, "HTTP/1.1 %u", &r.status), 1);
                assert_non_null(p);
        } else if (sscanf(buf, "HTTP/1.1 %u", &r.status) != 1 || !p) {
                r.status = 0;
                r.body = buf + len;
                return r;
        }
        r.body = p + 4;
        r.body_len = len - (size_t) (p + 4 - buf);
        return r;
}

static inline resp_t http(fixture_t *f, const char *method, const char *path, const char *extra, const void *body,
                          size_t body_len) {
        return http_io(f, method, path, extra, body, body_len, true);
}

/* A header's value (a copy in buf), or NULL. */
static inline const char *header(const resp_t *r, const char *name, char *buf, size_t size) {
        size_t nl = strlen(name);

        for (const char *line = strstr(r->raw, "\r\n"); line && line + 2 < r->body; line = strstr(line + 2, "\r\n")) {
                const char *l = line + 2, *end = strstr(l, "\r\n");
                if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
                        l += nl + 1;
                        while (*l == ' ')
                                l++;
                        snprintf(buf, size, "%.*s", (int) (end - l), l);
                        return buf;
                }
        }
        return NULL;
}

static inline void resp_done(resp_t *r) {
        free(r->raw);
}

static inline void assert_code(const resp_t *r, unsigned status, const char *code) {
        char want[64];

        assert_int_equal(r->status, status);
        snprintf(want, sizeof(want), "\"code\":\"%s\"", code);
        if (!strstr(r->body, want)) { /* jansson may put a space after the colon */
                snprintf(want, sizeof(want), "\"code\": \"%s\"", code);
                assert_non_null(strstr(r->body, want));
        }
}

/* Push a blob with a monolithic POST; *ret its digest. */
static inline void push_blob(fixture_t *f, const char *repo, const char *data, digest_t *ret) {
        char path[512];
        resp_t r;

        assert_int_equal(digest_buf(DIGEST_SHA256, data, strlen(data), ret), 0);
        snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/?digest=%s", repo, ret->str);
        r = http(f, "POST", path, "Content-Type: application/octet-stream\r\n", data, strlen(data));
        assert_int_equal(r.status, 201);
        resp_done(&r);
}

static inline void push_manifest(fixture_t *f, const char *repo, const char *ref, const char *mt, const char *body,
                          digest_t *ret) {
        char path[512], ct[300];
        resp_t r;

        assert_int_equal(digest_buf(DIGEST_SHA256, body, strlen(body), ret), 0);
        snprintf(path, sizeof(path), "/v2/%s/manifests/%s", repo, ref);
        snprintf(ct, sizeof(ct), "Content-Type: %s\r\n", mt);
        r = http(f, "PUT", path, ct, body, strlen(body));
        assert_int_equal(r.status, 201);
        resp_done(&r);
}

/* Start a session in repo and PATCH data into it: its Location in loc. */
static inline void session(fixture_t *f, const char *repo, const char *data, char *loc, size_t size) {
        char path[300];
        resp_t r;

        snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/", repo);
        r = http(f, "POST", path, NULL, NULL, 0);
        assert_int_equal(r.status, 202);
        assert_non_null(header(&r, "Location", loc, size));
        resp_done(&r);
        r = http(f, "PATCH", loc, "Content-Type: application/octet-stream\r\n", data, strlen(data));
        assert_int_equal(r.status, 202);
        resp_done(&r);
}

/* An OCI image manifest with config cfg (of 2 bytes) and no layers (to free). */
static inline char *image_of(const digest_t *cfg) {
        char *s = NULL;

        assert_true(asprintf(&s,
                             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                             "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                             "\"digest\":\"%s\",\"size\":2},\"layers\":[]}",
                             cfg->str) > 0);
        return s;
}

/* An OCI index with one entry, the image manifest m of size bytes for linux/amd64
 * (to free). */
static inline char *index_of(const digest_t *m, size_t size) {
        char *s = NULL;

        assert_true(asprintf(&s,
                             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[{"
                             "\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":%zu,"
                             "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}",
                             m->str, size) > 0);
        return s;
}
