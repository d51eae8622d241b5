/* tests/unit/test-server.c: berthd's route handlers, linked from libberthd.la and
 * served by libmicrohttpd on a loopback port inside the test (plain HTTP, --auth
 * none): an upload's status answer, manifest GET negotiation, upload expiry on
 * the server's clock hook instead of the wall clock. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <cmocka.h>
#include "common/digest.h"
#include "common/log.h"
#include "common/manifest.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/server.h"
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

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        char data[300];
        char *argv[] = { "berthd", "--insecure-http", "--auth", "none", "--listen", "127.0.0.1:5000",
                         "--threads", "2", "--upload-max-age", "60", "--log-level", "error", data, NULL };
        const union MHD_DaemonInfo *di;

        if (!f || fx_tmpdir(f->dir, sizeof(f->dir), "server") < 0)
                return -1;
        snprintf(data, sizeof(data), "--data=%s", f->dir);
        if (config_parse((int) (sizeof(argv) / sizeof(argv[0])) - 1, argv, &f->cfg) != 0)
                return -1;
        f->cfg.port = 0; /* any free port: asked below */
        log_max_level = f->cfg.log_level;
        f->srv.cfg = &f->cfg;
        f->srv.now = fx_clock_now;
        f->srv.now_userdata = &f->clock;
        if (fx_store_open(f->dir, NULL, &f->clock, &f->srv.store) < 0)
                return -1;
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

static int teardown(void **state) {
        fixture_t *f = *state;

        http_drain_and_stop(&f->srv);
        auth_free(f->srv.auth);
        store_free(f->srv.store);
        config_done(&f->cfg);
        fx_rmtree(f->dir);
        free(f);
        return 0;
}

/* One request on its own connection; extra: more header lines, each ending in \r\n. */
static resp_t http(fixture_t *f, const char *method, const char *path, const char *extra, const void *body,
                   size_t body_len) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(f->port) };
        struct timeval tv = { .tv_sec = 10 };
        char *head = NULL, *buf = NULL, *p;
        size_t len = 0, cap = 0;
        resp_t r = { 0 };
        int fd, n;

        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
        assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        n = asprintf(&head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n",
                     method, path, f->port, extra ? extra : "", body_len);
        assert_true(n > 0);
        assert_int_equal(send(fd, head, (size_t) n, MSG_NOSIGNAL), n);
        if (body_len)
                assert_int_equal(send(fd, body, body_len, MSG_NOSIGNAL), (ssize_t) body_len);
        free(head);
        for (;;) {
                ssize_t got;
                if (cap - len < 4096) {
                        cap = cap ? cap * 2 : 8192;
                        buf = realloc(buf, cap + 1);
                        assert_non_null(buf);
                }
                got = recv(fd, buf + len, cap - len, 0);
                assert_true(got >= 0);
                if (got == 0)
                        break;
                len += (size_t) got;
        }
        close(fd);
        buf[len] = '\0';
        assert_int_equal(sscanf(buf, "HTTP/1.1 %u", &r.status), 1);
        p = strstr(buf, "\r\n\r\n");
        assert_non_null(p);
        r.raw = buf;
        r.body = p + 4;
        r.body_len = len - (size_t) (p + 4 - buf);
        return r;
}

/* A header's value (a copy in buf), or NULL. */
static const char *header(const resp_t *r, const char *name, char *buf, size_t size) {
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

static void resp_done(resp_t *r) {
        free(r->raw);
}

/* Push a blob with a monolithic POST; *ret its digest. */
static void push_blob(fixture_t *f, const char *repo, const char *data, digest_t *ret) {
        char path[512];
        resp_t r;

        assert_int_equal(digest_buf(DIGEST_SHA256, data, strlen(data), ret), 0);
        snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/?digest=%s", repo, ret->str);
        r = http(f, "POST", path, "Content-Type: application/octet-stream\r\n", data, strlen(data));
        assert_int_equal(r.status, 201);
        resp_done(&r);
}

static void push_manifest(fixture_t *f, const char *repo, const char *ref, const char *mt, const char *body,
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
static void session(fixture_t *f, const char *repo, const char *data, char *loc, size_t size) {
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

static void test_upload_status(void **state) {
        fixture_t *f = *state;
        char loc[300], v[300], other[300];
        resp_t r;

        session(f, "lib/with/slashes", "abcd", loc, sizeof(loc));
        r = http(f, "GET", loc, NULL, NULL, 0);
        assert_int_equal(r.status, 204);
        assert_string_equal(header(&r, "Range", v, sizeof(v)), "0-3");
        assert_string_equal(header(&r, "Location", v, sizeof(v)), loc);
        assert_non_null(header(&r, "Docker-Upload-UUID", v, sizeof(v)));
        assert_string_equal(v, strrchr(loc, '/') + 1);
        resp_done(&r);

        /* the session belongs to its repository */
        snprintf(other, sizeof(other), "/v2/lib/other/blobs/uploads/%s", strrchr(loc, '/') + 1);
        r = http(f, "GET", other, NULL, NULL, 0);
        assert_int_equal(r.status, 404);
        assert_non_null(strstr(r.body, "\"BLOB_UPLOAD_UNKNOWN\""));
        resp_done(&r);
        r = http(f, "GET", "/v2/lib/with/slashes/blobs/uploads/00000000-0000-0000-0000-000000000000", NULL, NULL,
                 0);
        assert_int_equal(r.status, 404);
        resp_done(&r);
}

static void test_manifest_get_negotiation(void **state) {
        fixture_t *f = *state;
        digest_t cfg, layer, image, index;
        char *img = NULL, *idx = NULL, v[300];
        resp_t r;

        push_blob(f, "neg/app", "{}", &cfg);
        push_blob(f, "neg/app", "layer", &layer);
        assert_true(asprintf(&img,
                             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                             "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                             "\"digest\":\"%s\",\"size\":2},\"layers\":[{\"mediaType\":"
                             "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":5}]}",
                             cfg.str, layer.str) > 0);
        push_manifest(f, "neg/app", "img", MT_OCI_MANIFEST, img, &image);
        assert_true(asprintf(&idx,
                             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[{"
                             "\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":%zu,"
                             "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}",
                             image.str, strlen(img)) > 0);
        push_manifest(f, "neg/app", "multi", MT_OCI_INDEX, idx, &index);

        /* a client that takes an index gets it */
        r = http(f, "GET", "/v2/neg/app/manifests/multi", "Accept: " MT_OCI_INDEX "\r\n", NULL, 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(header(&r, "Docker-Content-Digest", v, sizeof(v)), index.str);
        assert_string_equal(header(&r, "Content-Type", v, sizeof(v)), MT_OCI_INDEX);
        assert_int_equal(r.body_len, strlen(idx));
        resp_done(&r);
        /* one that takes only image manifests gets the linux/amd64 image */
        r = http(f, "GET", "/v2/neg/app/manifests/multi",
                 "Accept: " MT_DOCKER_MANIFEST "\r\nAccept: " MT_OCI_MANIFEST "\r\n", NULL, 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(header(&r, "Docker-Content-Digest", v, sizeof(v)), image.str);
        assert_string_equal(header(&r, "Content-Type", v, sizeof(v)), MT_OCI_MANIFEST);
        assert_true(r.body_len == strlen(img) && memcmp(r.body, img, r.body_len) == 0);
        resp_done(&r);
        /* by digest, never substituted */
        {
                char path[300];
                snprintf(path, sizeof(path), "/v2/neg/app/manifests/%s", index.str);
                r = http(f, "HEAD", path, "Accept: " MT_OCI_MANIFEST "\r\n", NULL, 0);
                assert_int_equal(r.status, 200);
                assert_string_equal(header(&r, "Docker-Content-Digest", v, sizeof(v)), index.str);
                resp_done(&r);
        }
        /* If-None-Match on the digest: 304 */
        snprintf(v, sizeof(v), "If-None-Match: \"%s\"\r\nAccept: " MT_OCI_INDEX "\r\n", index.str);
        r = http(f, "GET", "/v2/neg/app/manifests/multi", v, NULL, 0);
        assert_int_equal(r.status, 304);
        resp_done(&r);
        free(img);
        free(idx);
}

/* Expiry follows the server's clock: no waiting on the wall clock. */
static void test_upload_expiry_by_clock(void **state) {
        fixture_t *f = *state;
        char loc[300];
        resp_t r;

        session(f, "exp/a", "abcd", loc, sizeof(loc));
        uploads_expire(&f->srv); /* young: kept */
        r = http(f, "GET", loc, NULL, NULL, 0);
        assert_int_equal(r.status, 204);
        resp_done(&r);
        f->clock.offset = 61; /* --upload-max-age 60 */
        uploads_expire(&f->srv);
        r = http(f, "GET", loc, NULL, NULL, 0);
        assert_int_equal(r.status, 404);
        assert_non_null(strstr(r.body, "\"BLOB_UPLOAD_UNKNOWN\""));
        resp_done(&r);
}

/* A damaged session (a directory where its file belongs) is an unknown upload, 404,
 * not a server error. */
static void test_damaged_session_is_unknown(void **state) {
        fixture_t *f = *state;
        char loc[300], path[600];
        resp_t r;

        session(f, "dmg/a", "abcd", loc, sizeof(loc));
        snprintf(path, sizeof(path), "%s/uploads/%s", f->dir, strrchr(loc, '/') + 1);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(mkdir(path, 0700), 0);
        r = http(f, "PATCH", loc, "Content-Type: application/octet-stream\r\n", "more", 4);
        assert_int_equal(r.status, 404);
        assert_non_null(strstr(r.body, "\"BLOB_UPLOAD_UNKNOWN\""));
        resp_done(&r);
}

/* berth_project_usage_*: at most max projects named, the largest, the rest summed
 * under _other. */
static void test_usage_fold(void **state) {
        meta_project_usage_t *v = calloc(6, sizeof(*v));
        static const char *const names[] = { "e", "b", "d", "a", "c" };
        static const uint64_t bytes[] = { 50, 20, 40, 10, 30 };
        size_t n = 5;

        (void) state;
        assert_non_null(v);
        for (size_t i = 0; i < n; i++) {
                v[i].project = strdup(names[i]);
                v[i].usage.bytes = bytes[i];
                v[i].usage.blobs = 1;
        }
        metrics__usage_fold(v, &n, 5); /* all fit: sorted by name */
        assert_int_equal(n, 5);
        assert_string_equal(v[0].project, "a");
        assert_string_equal(v[4].project, "e");
        metrics__usage_fold(v, &n, 3); /* c, d, e named; a and b summed */
        assert_int_equal(n, 4);
        assert_string_equal(v[0].project, "c");
        assert_string_equal(v[1].project, "d");
        assert_string_equal(v[2].project, "e");
        assert_string_equal(v[3].project, "_other");
        assert_int_equal(v[3].usage.bytes, 30);
        assert_int_equal(v[3].usage.blobs, 2);
        meta_usage_free(v, n);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_upload_status, setup, teardown),
                cmocka_unit_test_setup_teardown(test_manifest_get_negotiation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_upload_expiry_by_clock, setup, teardown),
                cmocka_unit_test_setup_teardown(test_damaged_session_is_unknown, setup, teardown),
                cmocka_unit_test(test_usage_fold),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
