/* tests/unit/test-webhook.c: webhooks in the metadata (storage/webhook.c): targets,
 * the durable queue (matching by project and event type, order per webhook and
 * repository, claims that one sender holds at a time, retries, give-up, a target's
 * hold), the bounded delivery log; events queued by manifest pushes and deletes in
 * their own transaction (storage/meta.c); the CloudEvents body and the signature.
 * Runs on SQLite, and on PostgreSQL with BERTH_TEST_ENGINE=pg
 * (tests/unit/engine-pg-units.sh). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <jansson.h>
#include "common/digest.h"
#include "common/err.h"
#include "storage/db.h"
#include "storage/meta.h"
#include "storage/webhook.h"
#include "fixture.h"

#define MT_IMAGE "application/vnd.oci.image.manifest.v1+json"
#define T0 1700000000 /* 2023-11-14T22:13:20Z */

typedef struct {
        char dir[256];
        char path[300];
        db_t *db;
        db_conn_t *c;
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));

        if (!f || fx_tmpdir(f->dir, sizeof(f->dir), "webhook") < 0 ||
            fx_db_target(f->path, sizeof(f->path), f->dir, "berth.db") < 0)
                return -1;
        if (db_open(f->path, &f->db) < 0 || db_conn_open(f->db, &f->c) < 0) {
                fprintf(stderr, "db_open %s: %s\n", f->path, db_last_error());
                return -1;
        }
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;

        db_conn_close(f->c);
        db_free(f->db);
        fx_db_drop(f->path);
        fx_rmtree(f->dir);
        free(f);
        return 0;
}

/* ---- helpers ---- */

static int64_t add(fixture_t *f, const char *project, unsigned events) {
        int64_t id = 0;

        assert_int_equal(webhook_add(f->c, project, "http://127.0.0.1:9/hook", events, NULL, 0, T0, &id), 0);
        assert_true(id > 0);
        return id;
}

static unsigned enqueue(fixture_t *f, unsigned type, const char *repo, const char *tag, int64_t time) {
        webhook_event_t ev = { .type = type, .repository = repo, .tag = tag,
                               .digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                               .media_type = MT_IMAGE, .size = 7, .time = time, .count = type == WEBHOOK_PULL ? 3 : 0,
                               /* a quota event names its project and state */
                               .project = type == WEBHOOK_QUOTA ? "lib" : NULL,
                               .quota_state = type == WEBHOOK_QUOTA ? "warning" : NULL };
        unsigned queued = 0;

        assert_int_equal(db_tx_begin(f->c), 0);
        assert_int_equal(webhook_enqueue(f->c, &ev, &queued), 0);
        assert_int_equal(db_tx_commit(f->c), 0);
        return queued;
}

static int64_t depth(fixture_t *f) {
        int64_t n = -1;
        assert_int_equal(webhook_queue_depth(f->c, &n), 0);
        return n;
}

static json_t *body_of(const webhook_delivery_t *d) {
        json_error_t e;
        json_t *j = json_loads(d->body, JSON_REJECT_DUPLICATES, &e);

        if (!j)
                fail_msg("body is not JSON: %s: %s", e.text, d->body);
        return j;
}

static const char *data_str(json_t *body, const char *key) {
        return json_string_value(json_object_get(json_object_get(body, "data"), key));
}

static webhook_outcome_t outcome(webhook_result_t r, int status, int64_t next) {
        return (webhook_outcome_t){ .result = r, .status = status, .latency_ms = 12,
                                    .error = r == WEBHOOK_SUCCESS ? NULL : "HTTP 503",
                                    .next_attempt = next };
}

/* ---- event types, ids, bodies, signatures ---- */

static void test_event_types_parse_and_format(void **state) {
        static const char *const bad[] = { "", "push,", ",push", "push,push", "Push", "pushes", "push delete",
                                           "all,push" };
        unsigned m = 0;
        char buf[64];

        (void) state;
        assert_int_equal(webhook_events_parse("push", &m), 0);
        assert_int_equal(m, WEBHOOK_PUSH);
        assert_int_equal(webhook_events_parse("quota,pull,delete", &m), 0);
        assert_int_equal(m, WEBHOOK_QUOTA | WEBHOOK_PULL | WEBHOOK_DELETE);
        assert_int_equal(webhook_events_parse("all", &m), 0);
        assert_int_equal(m, WEBHOOK_ALL);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                m = 99;
                assert_int_equal(webhook_events_parse(bad[i], &m), -EINVAL);
                assert_int_equal(m, 99);
        }
        webhook_events_format(WEBHOOK_ALL, buf, sizeof(buf));
        assert_string_equal(buf, "push,delete,pull,quota");
        webhook_events_format(WEBHOOK_PULL | WEBHOOK_PUSH, buf, sizeof(buf));
        assert_string_equal(buf, "push,pull");
        assert_string_equal(webhook_event_type(WEBHOOK_DELETE), "io.berth.delete");
        assert_null(webhook_event_type(WEBHOOK_PUSH | WEBHOOK_PULL));
}

static void test_event_ids_are_distinct_uuids(void **state) {
        char ids[500][WEBHOOK_EVENT_ID_LEN + 1];

        (void) state;
        for (int i = 0; i < 500; i++) {
                assert_int_equal(webhook_event_id(ids[i], sizeof(ids[i])), 0);
                assert_int_equal(strlen(ids[i]), 36);
                assert_int_equal(ids[i][14], '4');
                assert_non_null(strchr("89ab", ids[i][19]));
                assert_true(ids[i][8] == '-' && ids[i][13] == '-' && ids[i][18] == '-' && ids[i][23] == '-');
                for (int j = 0; j < i; j++)
                        assert_string_not_equal(ids[i], ids[j]);
        }
}

/* A CloudEvents 1.0 structured-mode body: the required attributes, the time in
 * RFC 3339, data with what the event knows and nothing it does not. */
static void test_cloudevents_body(void **state) {
        webhook_event_t ev = { .type = WEBHOOK_PUSH, .repository = "lib/app", .tag = "v1",
                               .digest = "sha256:abc", .media_type = MT_IMAGE, .size = 1234,
                               .actor = "alice", .address = "192.0.2.7", .time = T0 };
        json_t *j, *data;
        json_error_t e;
        char *s = NULL;

        (void) state;
        assert_int_equal(webhook_event_json(&ev, "11111111-2222-4333-8444-555555555555", &s), 0);
        j = json_loads(s, JSON_REJECT_DUPLICATES, &e);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "specversion")), "1.0");
        assert_string_equal(json_string_value(json_object_get(j, "id")), "11111111-2222-4333-8444-555555555555");
        assert_string_equal(json_string_value(json_object_get(j, "source")), "/v2/lib/app");
        assert_string_equal(json_string_value(json_object_get(j, "type")), "io.berth.push");
        assert_string_equal(json_string_value(json_object_get(j, "subject")), "lib/app");
        assert_string_equal(json_string_value(json_object_get(j, "time")), "2023-11-14T22:13:20Z");
        assert_string_equal(json_string_value(json_object_get(j, "datacontenttype")), "application/json");
        data = json_object_get(j, "data");
        assert_string_equal(json_string_value(json_object_get(data, "repository")), "lib/app");
        assert_string_equal(json_string_value(json_object_get(data, "tag")), "v1");
        assert_string_equal(json_string_value(json_object_get(data, "digest")), "sha256:abc");
        assert_string_equal(json_string_value(json_object_get(data, "mediaType")), MT_IMAGE);
        assert_int_equal(json_integer_value(json_object_get(data, "size")), 1234);
        assert_string_equal(json_string_value(json_object_get(data, "actor")), "alice");
        assert_string_equal(json_string_value(json_object_get(data, "address")), "192.0.2.7");
        assert_null(json_object_get(data, "count")); /* pulls only */
        assert_int_equal(json_object_size(j), 8);
        json_decref(j);
        free(s);

        /* a pull: a count, no tag, no actor; members without a value left out */
        ev = (webhook_event_t){ .type = WEBHOOK_PULL, .repository = "lib/app", .digest = "sha256:abc",
                                .size = 5, .time = T0, .count = 42 };
        assert_int_equal(webhook_event_json(&ev, "id-2", &s), 0);
        j = json_loads(s, 0, &e);
        data = json_object_get(j, "data");
        assert_int_equal(json_integer_value(json_object_get(data, "count")), 42);
        assert_null(json_object_get(data, "tag"));
        assert_null(json_object_get(data, "actor"));
        assert_null(json_object_get(data, "mediaType"));
        assert_string_equal(json_string_value(json_object_get(j, "type")), "io.berth.pull");
        json_decref(j);
        free(s);
        s = NULL;

        /* quotes and backslashes escaped; text that is not UTF-8 refused */
        ev.type = WEBHOOK_DELETE;
        ev.actor = "a\"b\\c";
        assert_int_equal(webhook_event_json(&ev, "id-3", &s), 0);
        j = json_loads(s, 0, &e);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "data"), "actor")), "a\"b\\c");
        json_decref(j);
        free(s);
        s = NULL;
        ev.actor = "\xff\xfe";
        assert_int_equal(webhook_event_json(&ev, "id-4", &s), BERTH_EJSON);
        assert_null(s);
        ev.type = WEBHOOK_PUSH | WEBHOOK_PULL;
        assert_int_equal(webhook_event_json(&ev, "id-5", &s), -EINVAL);
}

/* HMAC-SHA256 known answers. */
static void test_signature(void **state) {
        static const char fox[] = "The quick brown fox jumps over the lazy dog";
        char sig[WEBHOOK_SIGNATURE_LEN + 1];

        (void) state;
        assert_int_equal(webhook_sign("key", 3, fox, strlen(fox), sig, sizeof(sig)), 0);
        assert_string_equal(sig, "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
        assert_int_equal(webhook_sign("", 0, "", 0, sig, sizeof(sig)), 0);
        assert_string_equal(sig, "sha256=b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
        assert_int_equal(webhook_sign("key", 3, fox, strlen(fox), sig, sizeof(sig) - 1), -EINVAL);
}

static void test_id_parse(void **state) {
        int64_t id = -1;

        (void) state;
        assert_int_equal(webhook_id_parse("1", &id), 0);
        assert_int_equal(id, 1);
        assert_int_equal(webhook_id_parse("9223372036854775807", &id), 0);
        assert_int_equal(id, INT64_MAX);
        id = -1;
        assert_int_equal(webhook_id_parse("0", &id), -EINVAL);
        assert_int_equal(webhook_id_parse("01", &id), -EINVAL);
        assert_int_equal(webhook_id_parse("-1", &id), -EINVAL);
        assert_int_equal(webhook_id_parse("+1", &id), -EINVAL);
        assert_int_equal(webhook_id_parse("1x", &id), -EINVAL);
        assert_int_equal(webhook_id_parse("", &id), -EINVAL);
        assert_int_equal(webhook_id_parse(NULL, &id), -EINVAL);
        assert_int_equal(webhook_id_parse("9223372036854775808", &id), -EINVAL);
        assert_int_equal(id, -1);
}

/* ---- targets ---- */

static int collect(const webhook_info_t *w, void *userdata) {
        char *buf = userdata, line[256], ev[64];

        webhook_events_format(w->events, ev, sizeof(ev));
        snprintf(line, sizeof(line), "%lld %s %s %s %d;", (long long) w->id, w->project, w->url, ev,
                 w->has_secret);
        strcat(buf, line);
        return 0;
}

static void test_targets_add_list_del(void **state) {
        fixture_t *f = *state;
        static const uint8_t sealed[] = { 1, 2, 0, 3 };
        char buf[1024] = "";
        int64_t a = 0, b = 0, c;

        assert_int_equal(webhook_add(f->c, "lib", "https://ci.example/hook", WEBHOOK_PUSH, sealed, sizeof(sealed),
                                     T0, &a), 0);
        assert_int_equal(webhook_add(f->c, WEBHOOK_GLOBAL, "http://192.0.2.1/x", WEBHOOK_ALL, NULL, 0, T0, &b), 0);
        assert_true(b > a);
        assert_int_equal(webhook_list(f->c, NULL, collect, buf), 0);
        assert_string_equal(buf, "1 lib https://ci.example/hook push 1;2 * http://192.0.2.1/x push,delete,pull,quota 0;");
        buf[0] = '\0';
        assert_int_equal(webhook_list(f->c, "lib", collect, buf), 0);
        assert_string_equal(buf, "1 lib https://ci.example/hook push 1;");
        assert_int_equal(webhook_exists(f->c, a), 1);
        assert_int_equal(webhook_del(f->c, a), 1);
        assert_int_equal(webhook_del(f->c, a), 0);
        assert_int_equal(webhook_exists(f->c, a), 0);
        c = add(f, "team", WEBHOOK_PUSH);
        assert_true(c > b);
        /* refused: no events, events unknown, no URL */
        assert_int_equal(webhook_add(f->c, "lib", "http://x/", 0, NULL, 0, T0, &c), -EINVAL);
        assert_int_equal(webhook_add(f->c, "lib", "http://x/", 1u << 7, NULL, 0, T0, &c), -EINVAL);
        assert_int_equal(webhook_add(f->c, "lib", "", WEBHOOK_PUSH, NULL, 0, T0, &c), -EINVAL);
}

/* ---- the queue ---- */

/* A project's webhooks and the global ones get the events they asked for. */
static void test_enqueue_by_project_global_and_type(void **state) {
        fixture_t *f = *state;
        int64_t lib_push, global_all, other_push, lib_pull;

        lib_push = add(f, "lib", WEBHOOK_PUSH);
        global_all = add(f, WEBHOOK_GLOBAL, WEBHOOK_ALL);
        other_push = add(f, "other", WEBHOOK_PUSH);
        lib_pull = add(f, "lib", WEBHOOK_PULL);
        (void) other_push;

        assert_int_equal(webhook_wanted(f->c, "lib/app", WEBHOOK_PUSH), 1);
        assert_int_equal(webhook_wanted(f->c, "nobody/app", WEBHOOK_QUOTA), 1); /* the global one */
        assert_int_equal(enqueue(f, WEBHOOK_PUSH, "lib/app", "v1", T0), 2);      /* lib_push, global */
        assert_int_equal(enqueue(f, WEBHOOK_PULL, "lib/app", NULL, T0), 2);      /* global, lib_pull */
        assert_int_equal(enqueue(f, WEBHOOK_DELETE, "solo", NULL, T0), 1);       /* global */
        assert_int_equal(enqueue(f, WEBHOOK_PUSH, "other/x/y", NULL, T0), 2);    /* other_push, global */
        assert_int_equal(depth(f), 7);
        assert_int_equal(webhook_del(f->c, global_all), 1);
        assert_int_equal(depth(f), 3); /* its deliveries went with it */
        assert_int_equal(webhook_wanted(f->c, "nobody/app", WEBHOOK_PUSH), 0);
        assert_int_equal(enqueue(f, WEBHOOK_QUOTA, "lib/app", NULL, T0), 0);
        assert_int_equal(webhook_any(f->c, WEBHOOK_PULL), 1);
        assert_int_equal(webhook_del(f->c, lib_pull), 1);
        assert_int_equal(webhook_any(f->c, WEBHOOK_PULL), 0);
        (void) lib_push;
}

/* Per webhook and repository, one delivery at a time, in order; other
 * repositories do not wait. */
static void test_order_per_webhook_and_repository(void **state) {
        fixture_t *f = *state;
        webhook_delivery_t d1 = { 0 }, d2 = { 0 }, d3 = { 0 }, none = { 0 };
        webhook_outcome_t ok = outcome(WEBHOOK_SUCCESS, 200, 0);
        json_t *b;

        add(f, "lib", WEBHOOK_PUSH);
        enqueue(f, WEBHOOK_PUSH, "lib/a", "first", T0);
        enqueue(f, WEBHOOK_PUSH, "lib/a", "second", T0);
        enqueue(f, WEBHOOK_PUSH, "lib/b", "other", T0);

        assert_int_equal(webhook_claim(f->c, T0, T0 + 30, &d1), 1);
        b = body_of(&d1);
        assert_string_equal(data_str(b, "tag"), "first");
        assert_string_equal(d1.repository, "lib/a");
        assert_string_equal(d1.type, "io.berth.push");
        assert_string_equal(d1.url, "http://127.0.0.1:9/hook");
        assert_null(d1.secret);
        assert_int_equal(d1.attempts, 0);
        assert_string_equal(d1.event_id, json_string_value(json_object_get(b, "id")));
        json_decref(b);
        /* "second" waits for "first"; lib/b does not */
        assert_int_equal(webhook_claim(f->c, T0, T0 + 30, &d2), 1);
        assert_string_equal(d2.repository, "lib/b");
        assert_int_equal(webhook_claim(f->c, T0, T0 + 30, &none), 0);
        assert_int_equal(webhook_record(f->c, &d1, T0 + 1, &ok), 1);
        assert_int_equal(webhook_claim(f->c, T0 + 1, T0 + 31, &d3), 1);
        b = body_of(&d3);
        assert_string_equal(data_str(b, "tag"), "second");
        json_decref(b);
        assert_int_equal(webhook_record(f->c, &d2, T0 + 1, &ok), 1);
        assert_int_equal(webhook_record(f->c, &d3, T0 + 1, &ok), 1);
        assert_int_equal(depth(f), 0);
        webhook_delivery_done(&d1);
        webhook_delivery_done(&d2);
        webhook_delivery_done(&d3);
}

/* Two senders (connections: threads or replicas) never hold one delivery at once;
 * a claim whose lease ended may be taken, and the late sender's outcome is then
 * not recorded. */
static void test_claims_are_exclusive_and_end(void **state) {
        fixture_t *f = *state;
        webhook_delivery_t a = { 0 }, b = { 0 };
        webhook_outcome_t ok = outcome(WEBHOOK_SUCCESS, 204, 0);
        db_conn_t *other = NULL;

        assert_int_equal(db_conn_open(f->db, &other), 0);
        add(f, "lib", WEBHOOK_PUSH);
        enqueue(f, WEBHOOK_PUSH, "lib/a", "v1", T0);
        assert_int_equal(webhook_claim(f->c, T0, T0 + 30, &a), 1);
        assert_int_equal(webhook_claim(other, T0, T0 + 30, &b), 0);
        assert_int_equal(webhook_claim(other, T0 + 29, T0 + 59, &b), 0);
        /* the lease is over: the other sender takes it */
        assert_int_equal(webhook_claim(other, T0 + 30, T0 + 60, &b), 1);
        assert_string_equal(a.event_id, b.event_id); /* the same event: receivers deduplicate */
        assert_int_equal(webhook_record(f->c, &a, T0 + 31, &ok), 0); /* not ours any more */
        assert_int_equal(depth(f), 1);
        assert_int_equal(webhook_record(other, &b, T0 + 31, &ok), 1);
        assert_int_equal(depth(f), 0);
        webhook_delivery_done(&a);
        webhook_delivery_done(&b);
        db_conn_close(other);
}

static int log_line(const webhook_log_entry_t *e, void *userdata) {
        char *buf = userdata, line[256];

        snprintf(line, sizeof(line), "%lld %s %lld %lld %lld %s %s;", (long long) (e->ts - T0), e->type,
                 (long long) e->attempt, (long long) e->status, (long long) e->latency_ms, e->result,
                 e->error ? e->error : "-");
        strcat(buf, line);
        return 0;
}

/* A failure waits for its next attempt and counts; the give-up removes it; each
 * attempt is in the log. */
static void test_retry_then_give_up_logged(void **state) {
        fixture_t *f = *state;
        webhook_delivery_t d = { 0 };
        webhook_outcome_t fail1 = outcome(WEBHOOK_FAILURE, 503, T0 + 10), gone = outcome(WEBHOOK_GAVEUP, 0, 0);
        char buf[1024] = "";
        char event[WEBHOOK_EVENT_ID_LEN + 1];
        int64_t id = add(f, "lib", WEBHOOK_PUSH);

        enqueue(f, WEBHOOK_PUSH, "lib/a", "v1", T0);
        enqueue(f, WEBHOOK_PUSH, "lib/a", "v2", T0);
        assert_int_equal(webhook_claim(f->c, T0, T0 + 30, &d), 1);
        snprintf(event, sizeof(event), "%s", d.event_id);
        assert_int_equal(webhook_record(f->c, &d, T0, &fail1), 1);
        webhook_delivery_done(&d);
        assert_int_equal(webhook_claim(f->c, T0 + 9, T0 + 39, &d), 0); /* v2 waits behind it */
        assert_int_equal(webhook_claim(f->c, T0 + 10, T0 + 40, &d), 1);
        assert_string_equal(d.event_id, event); /* the same id on every attempt */
        assert_int_equal(d.attempts, 1);
        gone.error = "connection refused";
        assert_int_equal(webhook_record(f->c, &d, T0 + 11, &gone), 1);
        webhook_delivery_done(&d);
        assert_int_equal(depth(f), 1);
        assert_int_equal(webhook_claim(f->c, T0 + 11, T0 + 41, &d), 1); /* v2 is next */
        webhook_delivery_done(&d);
        assert_int_equal(webhook_log_list(f->c, id, 100, log_line, buf), 0);
        assert_string_equal(buf, "0 io.berth.push 1 503 12 failure HTTP 503;11 io.berth.push 2 0 12 gaveup connection refused;");
}

/* A target that does not answer holds its other ready deliveries too (other
 * repositories), never sooner than they were due; other webhooks go on. */
static void test_target_down_holds_its_other_deliveries(void **state) {
        fixture_t *f = *state;
        webhook_delivery_t d = { 0 }, e = { 0 };
        webhook_outcome_t down = outcome(WEBHOOK_FAILURE, 0, T0 + 100);
        int64_t lib = add(f, "lib", WEBHOOK_PUSH), other;

        down.target_down = true;
        enqueue(f, WEBHOOK_PUSH, "lib/a", "v1", T0);
        enqueue(f, WEBHOOK_PUSH, "lib/b", "v1", T0);
        other = add(f, "lib", WEBHOOK_PUSH);
        enqueue(f, WEBHOOK_PUSH, "lib/c", "v1", T0); /* to both */
        assert_int_equal(webhook_claim(f->c, T0, T0 + 30, &d), 1);
        assert_int_equal(d.webhook_id, lib);
        assert_int_equal(webhook_record(f->c, &d, T0, &down), 1);
        webhook_delivery_done(&d);
        /* only the other webhook's delivery is due now */
        assert_int_equal(webhook_claim(f->c, T0 + 1, T0 + 31, &e), 1);
        assert_int_equal(e.webhook_id, other);
        {
                webhook_outcome_t ok = outcome(WEBHOOK_SUCCESS, 200, 0);
                assert_int_equal(webhook_record(f->c, &e, T0 + 1, &ok), 1);
        }
        assert_int_equal(webhook_claim(f->c, T0 + 99, T0 + 129, &d), 0);
        assert_int_equal(webhook_claim(f->c, T0 + 100, T0 + 130, &d), 1);
        assert_int_equal(d.webhook_id, lib);
        webhook_delivery_done(&d);
        webhook_delivery_done(&e);
}

static int count_rows(const webhook_log_entry_t *e, void *userdata) {
        int64_t *n = userdata;

        if (*n == 0 && e->attempt != 1 + 7) /* the oldest kept: the 8th delivery */
                fail_msg("oldest log row kept is attempt %lld", (long long) e->attempt);
        (*n)++;
        return 0;
}

/* The log keeps the newest WEBHOOK_LOG_KEEP rows per webhook. */
static void test_log_is_bounded(void **state) {
        fixture_t *f = *state;
        webhook_outcome_t fail = outcome(WEBHOOK_FAILURE, 500, T0);
        webhook_delivery_t d = { 0 };
        int64_t id = add(f, "lib", WEBHOOK_PUSH), n = 0;

        enqueue(f, WEBHOOK_PUSH, "lib/a", "v1", T0);
        for (int i = 0; i < WEBHOOK_LOG_KEEP + 7; i++) {
                assert_int_equal(webhook_claim(f->c, T0, T0 + 30, &d), 1);
                assert_int_equal(webhook_record(f->c, &d, T0, &fail), 1);
                webhook_delivery_done(&d);
        }
        assert_int_equal(webhook_log_list(f->c, id, 100000, count_rows, &n), 0);
        assert_int_equal(n, WEBHOOK_LOG_KEEP);
}

/* A stopping sender gives its claim back; a server alone on its database ends
 * the claims a killed process left. */
static void test_release_and_reset(void **state) {
        fixture_t *f = *state;
        webhook_delivery_t d = { 0 };

        add(f, "lib", WEBHOOK_PUSH);
        enqueue(f, WEBHOOK_PUSH, "lib/a", "v1", T0);
        assert_int_equal(webhook_claim(f->c, T0, T0 + 30, &d), 1);
        assert_int_equal(webhook_release(f->c, &d), 0);
        webhook_delivery_done(&d);
        assert_int_equal(webhook_claim(f->c, T0, T0 + 30, &d), 1);
        assert_int_equal(d.attempts, 0); /* not an attempt */
        webhook_delivery_done(&d);
        assert_int_equal(webhook_claim(f->c, T0 + 1, T0 + 31, &d), 0);
        assert_int_equal(webhook_claims_reset(f->c), 0);
        assert_int_equal(webhook_claim(f->c, T0 + 1, T0 + 31, &d), 1);
        webhook_delivery_done(&d);
}

/* ---- events of the registry's changes, in their transaction ---- */

static digest_t dg(const char *s) {
        digest_t d;
        assert_int_equal(digest_buf(DIGEST_SHA256, s, strlen(s), &d), 0);
        return d;
}

/* Claims everything due and returns the data of each body, "type tag digest actor
 * address;" in order, recording each as delivered. */
static void drain(fixture_t *f, char *buf, size_t size) {
        webhook_outcome_t ok = outcome(WEBHOOK_SUCCESS, 200, 0);
        webhook_delivery_t d = { 0 };

        int64_t now = (int64_t) time(NULL) + 100; /* past every event, T0's and the wall clock's */

        buf[0] = '\0';
        while (webhook_claim(f->c, now, now + 30, &d) == 1) {
                json_t *b = body_of(&d);
                const char *tag = data_str(b, "tag"), *actor = data_str(b, "actor"), *addr = data_str(b, "address");
                char line[300];

                snprintf(line, sizeof(line), "%s %s %.15s %s %s %s;", json_string_value(json_object_get(b, "type")),
                         tag ? tag : "-", data_str(b, "digest"), actor ? actor : "-", addr ? addr : "-",
                         data_str(b, "mediaType"));
                assert_true(strlen(buf) + strlen(line) < size);
                strcat(buf, line);
                assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "data"), "size")), 5);
                json_decref(b);
                assert_int_equal(webhook_record(f->c, &d, now, &ok), 1);
                webhook_delivery_done(&d);
        }
}

static void test_manifest_changes_queue_their_events(void **state) {
        fixture_t *f = *state;
        meta_origin_t who = { .actor = "alice", .address = "192.0.2.7", .now = T0 };
        meta_ref_t missing = { .digest = dg("not there") };
        meta_manifest_t mf = { .repo = "lib/app", .digest = dg("image"), .size = 5, .media_type = MT_IMAGE,
                               .origin = &who };
        const char *tags[] = { "v1", "latest" };
        char buf[2048], want[2048];
        meta_t *m = NULL;

        assert_int_equal(meta_open_thread(f->db, &m), 0);
        /* no webhook: nothing queued */
        assert_int_equal(meta_manifest_put(m, &mf, tags, 1, NULL), 0);
        assert_int_equal(who.queued, 0);
        add(f, "lib", WEBHOOK_PUSH | WEBHOOK_DELETE);
        add(f, "other", WEBHOOK_ALL);

        /* a push by tag: one event per tag */
        assert_int_equal(meta_manifest_put(m, &mf, tags, 2, NULL), 0);
        assert_int_equal(who.queued, 2);
        /* a push that fails queues nothing */
        who.queued = 0;
        mf.refs = &missing;
        mf.n_refs = 1;
        mf.digest = dg("broken");
        assert_int_equal(meta_manifest_put(m, &mf, tags, 1, NULL), BERTH_EMANIFEST_BLOB_UNKNOWN);
        assert_int_equal(who.queued, 0);
        assert_int_equal(depth(f), 2);
        /* a push by digest: one event without a tag, anonymous */
        mf.refs = NULL;
        mf.n_refs = 0;
        mf.digest = dg("second");
        mf.origin = NULL;
        assert_int_equal(meta_manifest_put(m, &mf, NULL, 0, NULL), 0);
        /* deletes: a tag (its digest told), a manifest; one that finds nothing tells nothing */
        assert_int_equal(meta_tag_delete_from(m, "lib/app", "latest", &who), 1);
        assert_int_equal(meta_tag_delete_from(m, "lib/app", "latest", &who), 0);
        assert_int_equal(meta_manifest_delete_from(m, "lib/app", &mf.digest, &who), 1);
        assert_int_equal(meta_manifest_delete_from(m, "lib/app", &mf.digest, &who), 0);
        /* another project's repository: not these webhooks' business */
        mf.repo = "team/app";
        assert_int_equal(meta_manifest_put(m, &mf, tags, 1, NULL), 0);

        drain(f, buf, sizeof(buf));
        snprintf(want, sizeof(want),
                 "io.berth.push v1 %.15s alice 192.0.2.7 " MT_IMAGE ";"
                 "io.berth.push latest %.15s alice 192.0.2.7 " MT_IMAGE ";"
                 "io.berth.push - %.15s - - " MT_IMAGE ";"
                 "io.berth.delete latest %.15s alice 192.0.2.7 " MT_IMAGE ";"
                 "io.berth.delete - %.15s alice 192.0.2.7 " MT_IMAGE ";",
                 dg("image").str, dg("image").str, dg("second").str, dg("image").str, dg("second").str);
        assert_string_equal(buf, want);
        meta_free(m);
}

/* Every lookup of the queue, the log and the targets is an index search, with many
 * rows (PostgreSQL: analyzed, its generic plans). */
static void test_lookups_are_index_searches(void **state) {
        static const char fill_webhooks[] =
                "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 5000)"
                " INSERT INTO webhooks(id, project, url, events, secret, created)"
                " SELECT x, 'p' || x, 'http://192.0.2.1/', 3, NULL, 0 FROM g";
        static const char fill_queue[] =
                "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 100000)"
                " INSERT INTO webhook_queue(id, webhook_id, event_id, type, repository, body, created, ready,"
                " attempts, next_attempt, claimed_until)"
                " SELECT x, 1 + x % 5000, 'e' || x, 'io.berth.push', 'p/r' || (x % 7), '{}', x,"
                " CASE WHEN x % 50 = 0 THEN 1 ELSE 0 END, 0, x, 0 FROM g";
        static const char fill_log[] =
                "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 100000)"
                " INSERT INTO webhook_log(id, webhook_id, ts, event_id, type, attempt, status, latency_ms, result,"
                " error) SELECT x, 1 + x % 5000, x, 'e' || x, 'io.berth.push', 1, 200, 1, 'success', NULL FROM g";
        static const char analyze[] = "ANALYZE";
        fixture_t *f = *state;
        const char *const fills[] = { fill_webhooks, fill_queue, fill_log };
        db_stmt_t *st = NULL;
        char bad[1024];

        for (size_t i = 0; i < 3; i++) {
                assert_int_equal(db_stmt(f->c, fills[i], &st), 0);
                assert_int_equal(db_step_done(st), 0);
        }
        if (fx_pg())
                assert_int_equal(fx_psql(f->path, analyze), 0); /* not a statement PostgreSQL prepares */
        else {
                assert_int_equal(db_stmt(f->c, analyze, &st), 0);
                assert_int_equal(db_step_done(st), 0);
        }
        if (webhook__plans_check(f->c, fx_pg(), bad, sizeof(bad)) != 1)
                fail_msg("%s", bad);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_event_types_parse_and_format),
                cmocka_unit_test(test_event_ids_are_distinct_uuids),
                cmocka_unit_test(test_cloudevents_body),
                cmocka_unit_test(test_signature),
                cmocka_unit_test(test_id_parse),
                T(test_targets_add_list_del),
                T(test_enqueue_by_project_global_and_type),
                T(test_order_per_webhook_and_repository),
                T(test_claims_are_exclusive_and_end),
                T(test_retry_then_give_up_logged),
                T(test_target_down_holds_its_other_deliveries),
                T(test_log_is_bounded),
                T(test_release_and_reset),
                T(test_manifest_changes_queue_their_events),
                T(test_lookups_are_index_searches),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
