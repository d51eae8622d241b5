/* tests/unit/test-webhook-send.c: berthd's webhook sender (server/webhook.c) against
 * a receiver in the test (libmicrohttpd on 127.0.0.1): a queued event is posted,
 * signed with the webhook's sealed secret; a target the allow list does not open is
 * refused at delivery and nothing reaches it; pulls are counted and sent as one
 * event per repository and digest; the back-off's bounds. On SQLite, and on
 * PostgreSQL with BERTH_TEST_ENGINE=pg. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include "common/secretbox.h"
#include "server/proxy.h"
#include "server/webhook.h"
#include "storage/db.h"
#include "storage/webhook.h"
#include "fixture.h"

#define MAX_SEEN 16

typedef struct {
        pthread_mutex_t lock;
        int n;
        char *body[MAX_SEEN];
        char sig[MAX_SEEN][80];
        unsigned status; /* the answer */
} receiver_t;

typedef struct {
        char dir[256];
        char path[300];
        char url[128];
        db_t *db;
        db_conn_t *c;
        struct MHD_Daemon *d;
        receiver_t rx;
        proxy_cidrs_t *loopback;
} fixture_t;

typedef struct {
        char *buf;
        size_t len;
} post_t;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *data, size_t *size, void **req_cls) {
        receiver_t *rx = cls;
        post_t *p = *req_cls;
        struct MHD_Response *resp;
        enum MHD_Result r;
        const char *sig;

        (void) url, (void) method, (void) version;
        if (!p) {
                *req_cls = calloc(1, sizeof(post_t));
                return *req_cls ? MHD_YES : MHD_NO;
        }
        if (*size) {
                char *n = realloc(p->buf, p->len + *size + 1);
                if (!n)
                        return MHD_NO;
                memcpy(n + p->len, data, *size);
                p->buf = n;
                p->len += *size;
                p->buf[p->len] = '\0';
                *size = 0;
                return MHD_YES;
        }
        sig = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Berth-Signature");
        pthread_mutex_lock(&rx->lock);
        if (rx->status / 100 == 2 && rx->n < MAX_SEEN) {
                rx->body[rx->n] = p->buf ? p->buf : strdup("");
                p->buf = NULL;
                snprintf(rx->sig[rx->n], sizeof(rx->sig[0]), "%s", sig ? sig : "");
                rx->n++;
        }
        resp = MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
        r = MHD_queue_response(conn, rx->status, resp);
        pthread_mutex_unlock(&rx->lock);
        MHD_destroy_response(resp);
        return r;
}

static void on_done(void *cls, struct MHD_Connection *conn, void **req_cls, enum MHD_RequestTerminationCode why) {
        post_t *p = *req_cls;

        (void) cls, (void) conn, (void) why;
        if (p) {
                free(p->buf);
                free(p);
        }
        *req_cls = NULL;
}

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        struct sockaddr_in sa = { .sin_family = AF_INET };
        const union MHD_DaemonInfo *di;

        if (!f || fx_tmpdir(f->dir, sizeof(f->dir), "webhook-send") < 0 ||
            fx_db_target(f->path, sizeof(f->path), f->dir, "berth.db") < 0)
                return -1;
        if (db_open(f->path, &f->db) < 0 || db_conn_open(f->db, &f->c) < 0)
                return -1;
        pthread_mutex_init(&f->rx.lock, NULL);
        f->rx.status = 200;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        f->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, &f->rx,
                                MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &sa, MHD_OPTION_NOTIFY_COMPLETED, on_done,
                                NULL, MHD_OPTION_END);
        if (!f->d || !(di = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT)))
                return -1;
        snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u/hook", (unsigned) di->port);
        if (proxy_cidrs_parse("127.0.0.0/8", &f->loopback) < 0)
                return -1;
        unsetenv(SECRETBOX_KEY_ENV);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;

        MHD_stop_daemon(f->d);
        for (int i = 0; i < f->rx.n; i++)
                free(f->rx.body[i]);
        proxy_cidrs_free(f->loopback);
        db_conn_close(f->c);
        db_free(f->db);
        fx_db_drop(f->path);
        fx_rmtree(f->dir);
        free(f);
        return 0;
}

static webhooks_t *start(fixture_t *f, const proxy_cidrs_t *allow) {
        webhooks_options_t o = { .db = f->db, .data_dir = f->dir, .allow = allow, .max_age = 3600,
                                 .backoff_min = 1, .backoff_max = 1, .pull_interval = 1 };
        webhooks_t *w = NULL;

        assert_int_equal(webhooks_start(&o, &w), 0);
        return w;
}

static int seen(fixture_t *f) {
        int n;

        pthread_mutex_lock(&f->rx.lock);
        n = f->rx.n;
        pthread_mutex_unlock(&f->rx.lock);
        return n;
}

/* Polls cond(f) every 50 ms for up to 10 s. */
static bool wait_for(fixture_t *f, bool (*cond)(fixture_t *f)) {
        for (int i = 0; i < 200; i++) {
                if (cond(f))
                        return true;
                usleep(50 * 1000);
        }
        return false;
}

static bool one_seen(fixture_t *f) {
        return seen(f) >= 1;
}

static bool two_seen(fixture_t *f) {
        return seen(f) >= 2;
}

static void enqueue_push(fixture_t *f, const char *repo, const char *tag) {
        webhook_event_t ev = { .type = WEBHOOK_PUSH, .repository = repo, .tag = tag, .digest = "sha256:abc",
                               .media_type = "application/vnd.oci.image.manifest.v1+json", .size = 9,
                               .actor = "alice", .time = (int64_t) time(NULL) };
        unsigned queued = 0;

        assert_int_equal(db_tx_begin(f->c), 0);
        assert_int_equal(webhook_enqueue(f->c, &ev, &queued), 0);
        assert_int_equal(db_tx_commit(f->c), 0);
        assert_int_equal(queued, 1);
}

static int log_of(const webhook_log_entry_t *e, void *userdata) {
        char *buf = userdata;

        snprintf(buf + strlen(buf), 512 - strlen(buf), "%s %lld %s|", e->result, (long long) e->status,
                 e->error ? e->error : "-");
        return 0;
}

static void test_backoff_bounds(void **state) {
        (void) state;
        for (uint32_t rnd = 0; rnd < 2000; rnd += 7) {
                uint64_t a1 = webhooks_backoff(10, 3600, 1, rnd), a2 = webhooks_backoff(10, 3600, 2, rnd),
                         a20 = webhooks_backoff(10, 3600, 20, rnd), one = webhooks_backoff(1, 1, 5, rnd),
                         zero = webhooks_backoff(0, 0, 1, rnd);
                assert_true(a1 >= 5 && a1 <= 10);
                assert_true(a2 >= 10 && a2 <= 20);
                assert_true(a20 >= 1800 && a20 <= 3600);
                assert_int_equal(one, 1);
                assert_int_equal(zero, 1); /* never a busy loop */
        }
        assert_true(webhooks_backoff(10, 3600, INT64_MAX, 12345) <= 3600);
        assert_int_equal(webhooks_backoff(10, 3600, 1, 0), 5);
        assert_int_equal(webhooks_backoff(10, 3600, 1, 5), 10);
}

/* Posted, signed: the signature the receiver got is the body's HMAC under the
 * secret sealed in the database; the log has the success. */
static void test_posts_signed_event(void **state) {
        fixture_t *f = *state;
        char key[400], sig[WEBHOOK_SIGNATURE_LEN + 1], log[512] = "";
        secretbox_t *sb = NULL;
        uint8_t *sealed = NULL;
        size_t sealed_len = 0;
        int64_t id = 0, depth = -1;
        webhooks_t *w;
        json_t *j;

        assert_int_equal(fx_path(key, sizeof(key), f->dir, SECRETBOX_KEY_FILE), 0);
        assert_int_equal(secretbox_open(key, true, &sb, NULL), 0);
        assert_int_equal(secretbox_seal(sb, WEBHOOK_SECRET_CONTEXT, "hook-secret", 11, &sealed, &sealed_len), 0);
        secretbox_free(sb);
        assert_int_equal(webhook_add(f->c, "lib", f->url, WEBHOOK_PUSH, sealed, sealed_len, 1, &id), 0);
        free(sealed);
        w = start(f, f->loopback);
        enqueue_push(f, "lib/app", "v1");
        webhooks_kick(w);
        assert_true(wait_for(f, one_seen));
        j = json_loads(f->rx.body[0], 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "data"), "tag")), "v1");
        json_decref(j);
        assert_int_equal(webhook_sign("hook-secret", 11, f->rx.body[0], strlen(f->rx.body[0]), sig, sizeof(sig)), 0);
        assert_string_equal(f->rx.sig[0], sig);
        webhooks_stop(w);
        assert_int_equal(webhook_queue_depth(f->c, &depth), 0);
        assert_int_equal(depth, 0);
        assert_int_equal(webhook_log_list(f->c, id, 10, log_of, log), 0);
        assert_string_equal(log, "success 200 -|");
}

/* A target named by a host name: resolved, checked and pinned at delivery. */
static void test_posts_to_a_name(void **state) {
        fixture_t *f = *state;
        char url[160];
        webhooks_t *w;

        snprintf(url, sizeof(url), "http://localhost:%s", strrchr(f->url, ':') + 1);
        assert_int_equal(webhook_add(f->c, "lib", url, WEBHOOK_PUSH, NULL, 0, 1, NULL), 0);
        w = start(f, f->loopback);
        enqueue_push(f, "lib/app", "by-name");
        webhooks_kick(w);
        assert_true(wait_for(f, one_seen));
        webhooks_stop(w);
        assert_non_null(strstr(f->rx.body[0], "\"tag\":\"by-name\""));
        assert_string_equal(f->rx.sig[0], ""); /* no secret: no signature */
}

/* Without the allow list, a loopback target is refused when the delivery is made:
 * nothing reaches it, the attempt is a failure in the log. */
static void test_refused_at_delivery(void **state) {
        fixture_t *f = *state;
        char log[512] = "";
        int64_t id = 0;
        webhooks_t *w;

        assert_int_equal(webhook_add(f->c, "lib", f->url, WEBHOOK_PUSH, NULL, 0, 1, &id), 0);
        w = start(f, NULL);
        enqueue_push(f, "lib/app", "v1");
        webhooks_kick(w);
        for (int i = 0; i < 200 && !log[0]; i++) {
                usleep(50 * 1000);
                assert_int_equal(webhook_log_list(f->c, id, 1, log_of, log), 0);
        }
        webhooks_stop(w);
        assert_string_equal(log, "failure 0 127.0.0.1 is loopback (not in --webhook-allow-cidr)|");
        assert_int_equal(seen(f), 0);
}

/* Pulls counted in memory, sent as one event per repository and digest. */
static void test_pulls_counted(void **state) {
        fixture_t *f = *state;
        int counts[2] = { 0, 0 };
        webhooks_t *w;

        assert_int_equal(webhook_add(f->c, "lib", f->url, WEBHOOK_PULL, NULL, 0, 1, NULL), 0);
        w = start(f, f->loopback); /* a pull webhook exists: counting is on */
        for (int i = 0; i < 3; i++)
                webhooks_pulled(w, "lib/app", "sha256:aaa", "application/vnd.oci.image.manifest.v1+json", 9);
        webhooks_pulled(w, "lib/app", "sha256:bbb", NULL, 5);
        webhooks_pulled(w, "other/app", "sha256:aaa", NULL, 5); /* no webhook wants it */
        assert_true(wait_for(f, two_seen));
        webhooks_stop(w);
        assert_int_equal(seen(f), 2);
        for (int i = 0; i < 2; i++) {
                json_t *j = json_loads(f->rx.body[i], 0, NULL), *d = json_object_get(j, "data");
                const char *dg = json_string_value(json_object_get(d, "digest"));

                assert_string_equal(json_string_value(json_object_get(j, "type")), "io.berth.pull");
                counts[strcmp(dg, "sha256:aaa") == 0 ? 0 : 1] = (int) json_integer_value(json_object_get(d, "count"));
                json_decref(j);
        }
        assert_int_equal(counts[0], 3);
        assert_int_equal(counts[1], 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_backoff_bounds),
                T(test_posts_signed_event),
                T(test_posts_to_a_name),
                T(test_refused_at_delivery),
                T(test_pulls_counted),
        };
        int r;

        curl_global_init(CURL_GLOBAL_DEFAULT);
        r = cmocka_run_group_tests(tests, NULL, NULL);
        curl_global_cleanup();
        return r;
}
