/* tests/unit/test-usage.c: usage and quotas (storage/usage.h) through the write
 * protocol (storage/registry.h), on either engine (BERTH_TEST_ENGINE=pg): the
 * maintained figures after pushes, mounts, refused pushes, deletes, GC, raw
 * deletes of links and repositories and concurrent pushers always equal a
 * recount (usage_verify finds no difference); quotas refuse in the link's
 * transaction and write nothing; what a project holds already costs nothing;
 * verify finds and repairs figures that were tampered with. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>
#include "common/digest.h"
#include "common/err.h"
#include "common/manifest.h"
#include "storage/db.h"
#include "storage/meta.h"
#include "storage/registry.h"
#include "storage/store.h"
#include "storage/usage.h"
#include "storage/webhook.h"
#include "fixture.h"

typedef struct {
        char dir[256];
        char db[300];
        store_t *s;
        meta_t *m;
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));

        if (!f || fx_tmpdir(f->dir, sizeof(f->dir), "usage") < 0)
                return -1;
        if (fx_db_target(f->db, sizeof(f->db), f->dir, "berth.db") < 0 || fx_store_open(f->dir, NULL, NULL, &f->s) < 0 ||
            meta_open(f->db, &f->m) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;

        f->m = meta_free(f->m);
        f->s = store_free(f->s);
        fx_db_drop(f->db);
        fx_rmtree(f->dir);
        free(f);
        return 0;
}

/* Push data as a blob of repo: registry_upload_commit's result. */
static int try_push(store_t *s, meta_t *m, const char *repo, const char *data, digest_t *ret) {
        char uuid[UPLOAD_UUID_LEN + 1];
        upload_t *u;
        int r;

        assert_int_equal(store_upload_create(s, DIGEST_SHA256, uuid), 0);
        assert_int_equal(meta_upload_add(m, uuid, repo), 0);
        assert_int_equal(store_upload_acquire(s, uuid, &u), 0);
        assert_int_equal(fx_upload_write(u, data, strlen(data)), 0);
        assert_int_equal(digest_buf(DIGEST_SHA256, data, strlen(data), ret), 0);
        r = registry_upload_commit(s, m, u, repo, ret, NULL);
        if (r < 0)
                (void) upload_remove(u); /* an aborted upload */
        store_upload_release(u);
        return r;
}

static void push(fixture_t *f, const char *repo, const char *data, digest_t *ret) {
        assert_int_equal(try_push(f->s, f->m, repo, data, ret), 0);
}

static char *image_manifest(const digest_t *config, size_t config_size, const digest_t *layer, size_t layer_size) {
        char *s = NULL;

        assert_true(asprintf(&s,
                             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                             "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                             "\"digest\":\"%s\",\"size\":%zu},"
                             "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
                             "\"digest\":\"%s\",\"size\":%zu}]}",
                             config->str, config_size, layer->str, layer_size) > 0);
        return s;
}

static usage_project_t get(fixture_t *f, const char *project) {
        usage_project_t u;

        assert_int_equal(usage_get(f->m, project, &u), 0);
        assert_string_equal(u.project, project);
        return u;
}

static void expect_usage(fixture_t *f, const char *project, uint64_t blobs, uint64_t bytes) {
        usage_project_t u = get(f, project);

        if (u.blobs != blobs || u.bytes != bytes)
                fail_msg("%s: %llu blobs %llu bytes, want %llu and %llu", project, (unsigned long long) u.blobs,
                         (unsigned long long) u.bytes, (unsigned long long) blobs, (unsigned long long) bytes);
}

static void print_diff(const usage_diff_t *d, void *userdata) {
        (void) userdata;
        print_message("difference: %s %s kept %llu/%llu counted %llu/%llu%s\n", d->project, d->repo ? d->repo : "-",
                      (unsigned long long) d->kept_blobs, (unsigned long long) d->kept_bytes,
                      (unsigned long long) d->counted_blobs, (unsigned long long) d->counted_bytes,
                      d->refs ? " (per digest)" : "");
}

/* The maintained figures equal the recount. */
static void expect_exact(meta_t *m) {
        uint64_t diffs = 99;

        assert_int_equal(usage_verify(m, false, print_diff, NULL, &diffs), 0);
        assert_int_equal(diffs, 0);
}

static void repo_usage(fixture_t *f, const char *project, const char *repo, uint64_t blobs, uint64_t bytes) {
        usage_repo_t *v = NULL;
        size_t n = 0;
        bool seen = false;

        assert_int_equal(usage_repos(f->m, project, &v, &n), 0);
        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i].repo, repo) == 0) {
                        seen = true;
                        assert_int_equal(v[i].blobs, blobs);
                        assert_int_equal(v[i].bytes, bytes);
                }
        usage_repos_free(v, n);
        assert_true(seen);
}

/* A statement of the test's own (no input) on the database. */
static void exec_sql(fixture_t *f, const char *sql) {
        db_conn_t *c = NULL;
        db_stmt_t *st = NULL;

        assert_int_equal(db_conn_get(meta_db(f->m), &c), 0);
        assert_int_equal(db_tx_begin(c), 0);
        assert_int_equal(db_stmt(c, sql, &st), 0);
        assert_int_equal(db_step_done(st), 0);
        db_stmt_reset(st);
        assert_int_equal(db_tx_commit(c), 0);
        db_conn_put(meta_db(f->m), c);
}

static int gc_now(fixture_t *f) {
        registry_gc_options_t o = { .grace = 0, .who = "test" };
        registry_gc_result_t res;

        return registry_gc_run(f->s, f->m, &o, &res);
}

static void test_usage_follows_pushes_deletes_and_gc(void **state) {
        fixture_t *f = *state;
        digest_t config, layer, other, md;
        registry_put_result_t res;
        const char *tags[] = { "v1" };
        char *mf;

        push(f, "team/app", "config-bytes", &config);          /* 12 */
        push(f, "team/app", "layer-bytes-layer", &layer);      /* 17 */
        push(f, "team/deep/web", "layer-bytes-layer", &layer); /* the same blob: counts once in team */
        push(f, "team2/app", "layer-bytes-layer", &layer);     /* and once in team2 */
        push(f, "team-x", "other", &other);                    /* 5: the repository named as its project */
        expect_usage(f, "team", 2, 29);
        expect_usage(f, "team2", 1, 17);
        expect_usage(f, "team-x", 1, 5);
        expect_usage(f, "nobody", 0, 0);
        repo_usage(f, "team", "team/app", 2, 29);
        repo_usage(f, "team", "team/deep/web", 1, 17);
        expect_exact(f->m);

        /* a manifest counts its own bytes, once per project */
        mf = image_manifest(&config, 12, &layer, 17);
        assert_int_equal(registry_manifest_put(f->s, f->m, "team/app", mf, strlen(mf), MT_OCI_MANIFEST, NULL, tags, 1,
                                               &res),
                         0);
        md = res.digest;
        expect_usage(f, "team", 3, 29 + strlen(mf));
        repo_usage(f, "team", "team/app", 3, 29 + strlen(mf));
        expect_exact(f->m);

        /* a blob delete and a manifest delete give their bytes back at once */
        assert_int_equal(meta_blob_unlink(f->m, "team/deep/web", &layer), 1);
        expect_usage(f, "team", 3, 29 + strlen(mf));
        repo_usage(f, "team", "team/deep/web", 0, 0);
        assert_int_equal(meta_manifest_delete(f->m, "team/app", &md), 1);
        expect_usage(f, "team", 2, 29);
        expect_exact(f->m);

        /* GC unlinks what no manifest references: the project is empty */
        assert_int_equal(gc_now(f), 0);
        expect_usage(f, "team", 0, 0);
        expect_usage(f, "team2", 0, 0);
        expect_usage(f, "team-x", 0, 0);
        expect_exact(f->m);
        free(mf);
}

static void test_raw_deletes_and_repository_delete_keep_figures(void **state) {
        fixture_t *f = *state;
        digest_t a, b, md;
        registry_put_result_t res;
        char *mf;

        push(f, "p/one", "aaaa", &a);
        push(f, "p/one", "bbbbbbbb", &b);
        push(f, "p/two", "aaaa", &a);
        mf = image_manifest(&a, 4, &b, 8);
        assert_int_equal(registry_manifest_put(f->s, f->m, "p/one", mf, strlen(mf), MT_OCI_MANIFEST, NULL, NULL, 0, &res),
                         0);
        md = res.digest;
        (void) md;
        /* the manifest's bytes pushed as a blob too: the repository holds it once */
        push(f, "p/one", mf, &md);
        repo_usage(f, "p", "p/one", 3, 12 + strlen(mf));
        expect_usage(f, "p", 3, 12 + strlen(mf));
        /* fsck's repair deletes links by digest, a cascade deletes what a repository holds */
        exec_sql(f, "DELETE FROM repo_blobs WHERE digest IN (SELECT digest FROM blobs WHERE size = 8)");
        expect_usage(f, "p", 2, 4 + strlen(mf));
        expect_exact(f->m);
        exec_sql(f, "DELETE FROM repositories WHERE name = 'p/one'");
        expect_usage(f, "p", 1, 4);
        expect_exact(f->m);
        exec_sql(f, "DELETE FROM repositories WHERE name = 'p/two'");
        expect_usage(f, "p", 0, 0);
        expect_exact(f->m);
        free(mf);
}

static void test_quota_refuses_at_link_and_dedup_is_free(void **state) {
        fixture_t *f = *state;
        digest_t a, b, c, md;
        registry_put_result_t res;
        usage_project_t u;
        uint64_t room;
        char *mf;

        assert_int_equal(usage_quota_set(f->m, "q", 20), 0);
        u = get(f, "q");
        assert_true(u.own);
        assert_int_equal(u.quota, 20);
        push(f, "q/app", "0123456789", &a); /* 10 of 20 */
        assert_int_equal(usage_room(f->m, "q/app", NULL, &room, NULL), 0);
        assert_int_equal(room, 10);
        assert_int_equal(usage_room(f->m, "q/other", &a, &room, NULL), 0);
        assert_int_equal(room, USAGE_UNLIMITED); /* held: costs nothing */

        /* 11 more would make 21: refused, nothing linked, the usage as it was */
        assert_int_equal(try_push(f->s, f->m, "q/app", "abcdefghijk", &b), BERTH_EQUOTA);
        assert_int_equal(meta_blob_linked(f->m, "q/app", &b, NULL), 0);
        expect_usage(f, "q", 1, 10);
        /* exactly up to the quota is allowed */
        push(f, "q/app", "abcdefghij", &b);
        expect_usage(f, "q", 2, 20);
        /* at the quota: what the project holds costs nothing (a push, a mount) */
        push(f, "q/second", "0123456789", &a);
        assert_int_equal(registry_blob_mount(f->s, f->m, "q/third", &b, 10), 1);
        expect_usage(f, "q", 2, 20);
        /* a mount of a blob from elsewhere would add bytes: refused */
        push(f, "elsewhere/app", "xyz", &c);
        assert_int_equal(registry_blob_mount(f->s, f->m, "q/app", &c, 3), BERTH_EQUOTA);
        assert_int_equal(meta_blob_linked(f->m, "q/app", &c, NULL), 0);
        /* a manifest over the quota: refused in its transaction, nothing written */
        mf = image_manifest(&a, 10, &b, 10);
        assert_int_equal(registry_manifest_put(f->s, f->m, "q/app", mf, strlen(mf), MT_OCI_MANIFEST, NULL, NULL, 0, &res),
                         BERTH_EQUOTA);
        md = res.digest;
        {
                meta_manifest_info_t info;
                assert_int_equal(meta_manifest_get(f->m, "q/app", md.str, &info), 0);
        }
        expect_usage(f, "q", 2, 20);
        /* a pull-through cache's copy is not held to the quota */
        assert_int_equal(registry_blob_cache_link(f->s, f->m, "q/cache", &c, 3), 1);
        expect_usage(f, "q", 3, 23);
        /* room is 0 over the quota; a delete gives it back at once */
        assert_int_equal(usage_room(f->m, "q/app", NULL, &room, &u), 0);
        assert_int_equal(room, 0);
        assert_int_equal(u.bytes, 23);
        assert_int_equal(meta_blob_unlink(f->m, "q/cache", &c), 1);
        assert_int_equal(meta_blob_unlink(f->m, "q/app", &b), 1);
        assert_int_equal(meta_blob_unlink(f->m, "q/third", &b), 1);
        expect_usage(f, "q", 1, 10);
        assert_int_equal(registry_manifest_put(f->s, f->m, "q/app", mf, strlen(mf), MT_OCI_MANIFEST, NULL, NULL, 0, &res),
                         BERTH_EMANIFEST_BLOB_UNKNOWN);
        push(f, "q/app", "abcdefghij", &b);
        /* no quota: anything goes */
        assert_int_equal(usage_quota_set(f->m, "q", USAGE_UNLIMITED), 0);
        assert_int_equal(registry_manifest_put(f->s, f->m, "q/app", mf, strlen(mf), MT_OCI_MANIFEST, NULL, NULL, 0, &res),
                         0);
        expect_usage(f, "q", 3, 20 + strlen(mf));
        expect_exact(f->m);
        free(mf);
}

static void test_default_quota_and_settings(void **state) {
        fixture_t *f = *state;
        usage_project_t *v = NULL, u;
        uint64_t q;
        digest_t a;
        size_t n = 0;

        assert_int_equal(usage_default_get(f->m, &q), 0);
        assert_int_equal(q, USAGE_UNLIMITED);
        assert_int_equal(usage_default_set(f->m, 8), 0);
        assert_int_equal(usage_default_get(f->m, &q), 0);
        assert_int_equal(q, 8);
        /* a namespace nobody configured (a user's own, on its first push) has the default */
        u = get(f, "alice");
        assert_false(u.own);
        assert_int_equal(u.quota, 8);
        assert_int_equal(try_push(f->s, f->m, "alice/app", "123456789", &a), BERTH_EQUOTA);
        push(f, "alice/app", "12345678", &a);
        /* its own setting wins: none, then a size; cleared, the default again */
        assert_int_equal(usage_quota_set(f->m, "bob", USAGE_UNLIMITED), 0);
        push(f, "bob/app", "123456789", &a);
        assert_int_equal(usage_quota_set(f->m, "carol", 100), 0);
        assert_int_equal(usage_quota_clear(f->m, "carol"), 1);
        assert_int_equal(usage_quota_clear(f->m, "carol"), 0);
        assert_int_equal(get(f, "carol").quota, 8);
        assert_int_equal(usage_default_set(f->m, USAGE_UNLIMITED), 0);
        assert_int_equal(get(f, "carol").quota, USAGE_UNLIMITED);
        /* the list: projects that hold something or have their own quota */
        assert_int_equal(usage_list(f->m, &v, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(v[0].project, "alice");
        assert_int_equal(v[0].bytes, 8);
        assert_string_equal(v[1].project, "bob");
        assert_true(v[1].own);
        assert_int_equal(v[1].quota, USAGE_UNLIMITED);
        free(v);
        assert_int_equal(usage_quota_set(f->m, "a/b", 1), -EINVAL);
}

static void test_size_parse(void **state) {
        uint64_t v;

        (void) state;
        assert_int_equal(size_parse("10GiB", &v), 0);
        assert_true(v == 10ULL << 30);
        assert_int_equal(size_parse("10 GB", &v), 0);
        assert_true(v == 10000000000ULL);
        assert_int_equal(size_parse("1.5m", &v), 0);
        assert_true(v == 1572864);
        assert_int_equal(size_parse("512", &v), 0);
        assert_true(v == 512);
        assert_int_equal(size_parse("none", &v), 0);
        assert_true(v == USAGE_UNLIMITED);
        assert_int_equal(size_parse("", &v), -EINVAL);
        assert_int_equal(size_parse("10 XB", &v), -EINVAL);
        assert_int_equal(size_parse("-1", &v), -EINVAL);
        assert_int_equal(size_parse("100000PiB", &v), -ERANGE);
        {
                char buf[32];
                size_human(10ULL << 30, buf, sizeof(buf));
                assert_string_equal(buf, "10.0 GiB");
                size_human(70, buf, sizeof(buf));
                assert_string_equal(buf, "70 B");
        }
}

static void test_verify_finds_and_repairs(void **state) {
        fixture_t *f = *state;
        uint64_t diffs = 0;
        digest_t a;

        push(f, "v/one", "aaaa", &a);
        push(f, "v/two", "aaaa", &a);
        push(f, "w/one", "bbbbbb", &a);
        expect_exact(f->m);
        exec_sql(f, "UPDATE usage_projects SET bytes = bytes + 1 WHERE project = 'v'");
        exec_sql(f, "UPDATE usage_refs SET refs = 1 WHERE project = 'v'");
        exec_sql(f, "DELETE FROM usage_repos WHERE repo_id = (SELECT id FROM repositories WHERE name = 'w/one')");
        exec_sql(f, "INSERT INTO usage_projects(project, blobs, bytes) VALUES ('ghost', 1, 10)");
        assert_int_equal(usage_verify(f->m, false, NULL, NULL, &diffs), 0);
        assert_int_equal(diffs, 3); /* v (totals and refs), w/one, ghost */
        assert_int_equal(usage_verify(f->m, true, NULL, NULL, &diffs), 0);
        assert_int_equal(diffs, 3);
        expect_exact(f->m);
        expect_usage(f, "v", 1, 4);
        expect_usage(f, "ghost", 0, 0);
        /* and the repaired figures go on moving right */
        push(f, "v/three", "cc", &a);
        expect_usage(f, "v", 2, 6);
        expect_exact(f->m);
}

/* ---- concurrent pushers ---- */

typedef struct {
        fixture_t *f;
        int id;
        int refused;
        int err;
} pusher_t;

static void *pusher(void *arg) {
        pusher_t *p = arg;
        meta_t *m = NULL;
        char repo[64], data[64];
        digest_t d;

        if (meta_open(p->f->db, &m) < 0) {
                p->err = -1;
                return NULL;
        }
        for (int i = 0; i < 30 && !p->err; i++) {
                int r;
                snprintf(repo, sizeof(repo), "c/r%d", (p->id + i) % 3);
                /* shared blobs (every pusher pushes them) and blobs of its own */
                if (i % 2)
                        snprintf(data, sizeof(data), "shared-%d", i % 7);
                else
                        snprintf(data, sizeof(data), "own-%d-%d", p->id, i);
                r = try_push(p->f->s, m, repo, data, &d);
                if (r == BERTH_EQUOTA)
                        p->refused++;
                else if (r == BERTH_EBUSY)
                        continue;
                else if (r < 0)
                        p->err = r;
                if (i % 5 == 4)
                        (void) meta_blob_unlink(m, repo, &d);
        }
        meta_free(m);
        return NULL;
}

static void test_concurrent_pushes_stay_exact(void **state) {
        fixture_t *f = *state;
        pthread_t t[4];
        pusher_t p[4];
        usage_project_t u;
        int refused = 0;

        assert_int_equal(usage_quota_set(f->m, "c", 300), 0);
        for (int i = 0; i < 4; i++) {
                p[i] = (pusher_t){ .f = f, .id = i };
                assert_int_equal(pthread_create(&t[i], NULL, pusher, &p[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
                assert_int_equal(pthread_join(t[i], NULL), 0);
                assert_int_equal(p[i].err, 0);
                refused += p[i].refused;
        }
        u = get(f, "c");
        assert_true(u.bytes <= 300);
        assert_true(refused > 0); /* 4 x 15 own blobs of about 9 bytes cannot all fit */
        expect_exact(f->m);
        assert_int_equal(gc_now(f), 0);
        expect_usage(f, "c", 0, 0);
        expect_exact(f->m);
}

/* The next quota event queued (claimed and marked delivered): its CloudEvent (json_decref),
 * or NULL when the queue is empty. */
static json_t *next_event(fixture_t *f) {
        webhook_delivery_t d = { 0 };
        webhook_outcome_t ok = { .result = WEBHOOK_SUCCESS, .status = 200 };
        db_conn_t *c = NULL;
        json_t *j = NULL;
        int r;

        assert_int_equal(db_conn_get(meta_db(f->m), &c), 0);
        r = webhook_claim(c, INT64_MAX / 4, INT64_MAX / 4 + 30, &d);
        assert_true(r >= 0);
        if (r == 1) {
                j = json_loads(d.body, 0, NULL);
                assert_non_null(j);
                assert_int_equal(webhook_record(c, &d, INT64_MAX / 4, &ok), 1);
                webhook_delivery_done(&d);
        }
        db_conn_put(meta_db(f->m), c);
        return j;
}

static void expect_quota_event(json_t *ev, const char *repo, const char *state, uint64_t usage, uint64_t quota,
                               const char *digest, const char *actor) {
        json_t *data;

        assert_non_null(ev);
        assert_string_equal(json_string_value(json_object_get(ev, "type")), "io.berth.quota");
        assert_string_equal(json_string_value(json_object_get(ev, "specversion")), "1.0");
        data = json_object_get(ev, "data");
        assert_string_equal(json_string_value(json_object_get(data, "repository")), repo);
        assert_string_equal(json_string_value(json_object_get(data, "project")), "q");
        assert_string_equal(json_string_value(json_object_get(data, "state")), state);
        assert_int_equal(json_integer_value(json_object_get(data, "usage")), usage);
        assert_int_equal(json_integer_value(json_object_get(data, "quota")), quota);
        if (digest)
                assert_string_equal(json_string_value(json_object_get(data, "digest")), digest);
        else
                assert_null(json_object_get(data, "digest"));
        if (actor)
                assert_string_equal(json_string_value(json_object_get(data, "actor")), actor);
        json_decref(ev);
}

/* n times ch in buf (room for n + 1), NUL-terminated. */
static const char *bytes_of(char ch, size_t n, char *buf) {
        memset(buf, ch, n);
        buf[n] = '\0';
        return buf;
}

/* Quota events: "warning" queued in the transaction of the write that takes the
 * usage across 85% of the quota (once per crossing; none for a refused write, nor
 * for a project whose webhooks do not want them), "exceeded" by
 * usage_exceeded_event. */
static void test_quota_events(void **state) {
        fixture_t *f = *state;
        meta_origin_t o = { .actor = "alice", .address = "127.0.0.1", .now = 1800000000 };
        registry_put_result_t res;
        digest_t a, b, c, d, e;
        db_conn_t *conn = NULL;
        char buf[512];
        int64_t id;
        char *mf;

        assert_int_equal(usage_warn_level(100), 85);
        assert_int_equal(usage_warn_level(0), 0);
        assert_true(usage_warn_level(UINT64_MAX) < UINT64_MAX); /* no overflow */
        assert_int_equal(db_conn_get(meta_db(f->m), &conn), 0);
        assert_int_equal(webhook_add(conn, "q", "http://127.0.0.1:9/hook", WEBHOOK_QUOTA, NULL, 0, 1, &id), 0);
        assert_int_equal(webhook_add(conn, "other", "http://127.0.0.1:9/hook", WEBHOOK_PUSH, NULL, 0, 1, &id), 0);
        db_conn_put(meta_db(f->m), conn);
        assert_int_equal(usage_quota_set(f->m, "q", 1000), 0);
        assert_int_equal(usage_quota_set(f->m, "other", 10), 0);

        push(f, "q/app", bytes_of('a', 400, buf), &a); /* 400 of 1000 */
        assert_null(next_event(f));
        /* 500 more make 900, past 850: the warning, in the link's transaction */
        push(f, "q/app", bytes_of('b', 500, buf), &b);
        expect_quota_event(next_event(f), "q/app", "warning", 900, 1000, b.str, NULL);
        /* still above: no second warning */
        push(f, "q/app", "xyz", &c);
        assert_null(next_event(f));
        /* below again (deletes), then a manifest crossing again: its origin names who */
        assert_int_equal(meta_blob_unlink(f->m, "q/app", &c), 1);
        assert_int_equal(meta_blob_unlink(f->m, "q/app", &b), 1); /* 400 */
        push(f, "q/app", bytes_of('c', 200, buf), &b); /* 600 */
        assert_null(next_event(f));
        mf = image_manifest(&a, 400, &b, 200);
        assert_true(600 + strlen(mf) >= 850 && 600 + strlen(mf) <= 1000);
        assert_int_equal(registry_manifest_put_from(f->s, f->m, "q/app", mf, strlen(mf), MT_OCI_MANIFEST, NULL, NULL,
                                                    0, &o, &res),
                         0);
        assert_int_equal(o.queued, 1);
        expect_quota_event(next_event(f), "q/app", "warning", 600 + strlen(mf), 1000, res.digest.str, "alice");
        free(mf);
        /* a refused write queues nothing itself; usage_exceeded_event does */
        assert_int_equal(try_push(f->s, f->m, "q/app", bytes_of('d', 200, buf), &d), BERTH_EQUOTA);
        assert_null(next_event(f));
        assert_int_equal(usage_exceeded_event(f->m, "q/app", &d, &o), 1);
        expect_quota_event(next_event(f), "q/app", "exceeded", get(f, "q").bytes, 1000, d.str, "alice");
        /* a project whose webhooks want no quota events, one without a quota: nothing */
        push(f, "other/app", "0123456789", &e); /* 10 of 10: crosses 85%, nobody listens */
        assert_null(next_event(f));
        assert_int_equal(usage_exceeded_event(f->m, "other/app", NULL, &o), 0);
        assert_int_equal(usage_exceeded_event(f->m, "free/app", NULL, NULL), 0);
        assert_null(next_event(f));
        assert_int_equal(usage_exceeded_event(f->m, "", NULL, NULL), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_usage_follows_pushes_deletes_and_gc, setup, teardown),
                cmocka_unit_test_setup_teardown(test_raw_deletes_and_repository_delete_keep_figures, setup, teardown),
                cmocka_unit_test_setup_teardown(test_quota_refuses_at_link_and_dedup_is_free, setup, teardown),
                cmocka_unit_test_setup_teardown(test_quota_events, setup, teardown),
                cmocka_unit_test_setup_teardown(test_default_quota_and_settings, setup, teardown),
                cmocka_unit_test(test_size_parse),
                cmocka_unit_test_setup_teardown(test_verify_finds_and_repairs, setup, teardown),
                cmocka_unit_test_setup_teardown(test_concurrent_pushes_stay_exact, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
