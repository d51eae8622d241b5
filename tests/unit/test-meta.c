/* tests/unit/test-meta.c: the SQLite metadata layer. Each test runs on a fresh
 * database in a temporary directory, removed at teardown. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include "common/digest.h"
#include "common/err.h"
#include "common/macro.h"
#include "storage/db.h"
#include "storage/db-internal.h"
#include "storage/meta.h"
#include "storage/store-internal.h"
#include "fixture.h"

#define MT_IMAGE "application/vnd.oci.image.manifest.v1+json"
#define MT_INDEX "application/vnd.oci.image.index.v1+json"

typedef struct {
        char dir[256];
        char path[300];
        meta_t *m;
        _Atomic unsigned heard; /* DB_NOTIFY_REPO notifications f->m's database heard */
} fixture_t;

static void on_repo_change(db_notify_kind_t kind, const char *key, void *userdata) {
        fixture_t *f = userdata;

        (void) key;
        if (kind == DB_NOTIFY_REPO)
                atomic_fetch_add(&f->heard, 1);
}

/* PostgreSQL: until the database's notification connection is up (the caches in
 * use), at most 10 s. */
static void wait_listening(db_t *db) {
        for (int i = 0; i < 1000 && !db_notify_listening(db); i++)
                usleep(10000);
        assert_true(db_notify_listening(db));
}

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));

        if (!f || fx_tmpdir(f->dir, sizeof(f->dir), "meta") < 0)
                return -1;
        if (fx_db_target(f->path, sizeof(f->path), f->dir, "meta.db") < 0)
                return -1;
        if (meta_open(f->path, &f->m) < 0) {
                fprintf(stderr, "meta_open %s: %s\n", f->path, db_last_error());
                return -1;
        }
        if (db_subscribe(meta_db(f->m), on_repo_change, f) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;

        db_unsubscribe(meta_db(f->m), on_repo_change, f);
        f->m = meta_free(f->m);
        fx_db_drop(f->path);
        fx_rmtree(f->dir);
        free(f);
        return 0;
}

/* ---- helpers ---- */

static digest_t dg(const char *content) {
        digest_t d;
        assert_int_equal(digest_buf(DIGEST_SHA256, content, strlen(content), &d), 0);
        return d;
}

static void link_blob(fixture_t *f, const char *repo, const char *content) {
        digest_t d = dg(content);
        assert_int_equal(meta_blob_link(f->m, repo, &d, strlen(content)), 0);
}

/* An image manifest "name" in repo referencing the blobs named in layers (linked
 * first), tagged with tags. Returns its digest. */
static digest_t put_image(fixture_t *f, const char *repo, const char *name, const char *const *tags,
                          size_t n_tags) {
        meta_ref_t refs[2] = { { .digest = dg("config"), .is_manifest = false },
                               { .digest = dg("layer"), .is_manifest = false } };
        meta_manifest_t mf = {
                .repo = repo,
                .digest = dg(name),
                .size = strlen(name),
                .media_type = MT_IMAGE,
                .refs = refs,
                .n_refs = 2,
        };

        link_blob(f, repo, "config");
        link_blob(f, repo, "layer");
        assert_int_equal(meta_manifest_put(f->m, &mf, tags, n_tags, NULL), 0);
        return mf.digest;
}

/* A referrer of subject with artifact_type. */
static digest_t put_referrer(fixture_t *f, const char *repo, const char *name, const digest_t *subject,
                             const char *artifact_type) {
        meta_manifest_t mf = {
                .repo = repo,
                .digest = dg(name),
                .size = 100,
                .media_type = MT_IMAGE,
                .artifact_type = artifact_type,
                .subject = subject,
                .annotations_json = "{\"k\":\"v\"}",
        };

        assert_int_equal(meta_manifest_put(f->m, &mf, NULL, 0, NULL), 0);
        return mf.digest;
}

static size_t strv_len(char **v) {
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

/* Run SQL on the database through a connection of its own, without foreign keys,
 * so it can write rows berth never would (PostgreSQL: replica mode, which skips
 * them; the test server's role is a superuser). A write outside berth tells no
 * cache (PostgreSQL; SQLite's data_version sees it): notify = also tell every
 * process's manifest caches that all repositories changed, as a berth write
 * would, and wait until f->m's database heard it. */
static void raw_exec_notify(fixture_t *f, const char *sql, bool notify) {
        if (fx_pg()) {
                PGconn *pc = PQconnectdb(f->path);
                PGresult *res;
                unsigned heard = atomic_load(&f->heard);

                if (notify)
                        wait_listening(meta_db(f->m));
                assert_int_equal(PQstatus(pc), CONNECTION_OK);
                PQclear(PQexec(pc, "SET session_replication_role = replica"));
                res = PQexec(pc, sql);
                if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
                        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
                PQclear(res);
                if (notify) {
                        PQclear(PQexec(pc, "SELECT pg_notify('berth', E'ffffffffffffffff 0\\n2 ')"));
                        for (int i = 0; i < 1000 && atomic_load(&f->heard) == heard; i++)
                                usleep(10000);
                        assert_int_not_equal(atomic_load(&f->heard), heard);
                }
                PQfinish(pc);
        } else {
                sqlite3 *db = NULL;

                assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
                assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
                sqlite3_close(db);
        }
}

static void raw_exec(fixture_t *f, const char *sql) {
        raw_exec_notify(f, sql, true);
}

/* ---- schema ---- */

static void test_migrations_apply_and_are_idempotent(void **state) {
        fixture_t *f = *state;
        int v = meta_schema_version(f->m);
        uint64_t size = 0;

        assert_true(v >= 1);
        link_blob(f, "lib/app", "kept");
        f->m = meta_free(f->m);
        assert_int_equal(meta_open(f->path, &f->m), 0);
        assert_int_equal(meta_schema_version(f->m), v);
        {
                digest_t d = dg("kept");
                assert_int_equal(meta_blob_linked(f->m, "lib/app", &d, &size), 1);
                assert_int_equal(size, 4);
        }
}

struct opener {
        const char *path;
        int rc;
        int version;
};

static void *opener_main(void *arg) {
        struct opener *o = arg;
        meta_t *m = NULL;

        o->rc = meta_open(o->path, &m);
        if (o->rc == 0)
                o->version = meta_schema_version(m);
        meta_free(m);
        return NULL;
}

static void test_concurrent_open_of_fresh_file(void **state) {
        fixture_t *f = *state;
        char path[400];
        struct opener o[4];
        pthread_t t[4];

        assert_int_equal(fx_db_target(path, sizeof(path), f->dir, "fresh.db"), 0);
        for (size_t i = 0; i < 4; i++) {
                o[i] = (struct opener){ .path = path };
                assert_int_equal(pthread_create(&t[i], NULL, opener_main, &o[i]), 0);
        }
        for (size_t i = 0; i < 4; i++) {
                assert_int_equal(pthread_join(t[i], NULL), 0);
                assert_int_equal(o[i].rc, 0);
                assert_int_equal(o[i].version, meta_schema_version(f->m));
        }
        fx_db_drop(path);
}

static void test_lookups_and_pages_are_index_searches(void **state) {
        fixture_t *f = *state;
        char bad[1024] = "";
        int r;

        /* PostgreSQL plans by statistics: at the scale the pages are for (100,000
         * tags in one repository, 20,000 repositories with a few manifests each,
         * referrers), analyzed; SQLite's plans follow from the schema alone */
        if (fx_pg())
                raw_exec(f, "INSERT INTO repositories(name) SELECT 'r' || lpad(g::text, 6, '0')"
                            "  FROM generate_series(1, 20000) g;"
                            "INSERT INTO blobs(digest, size, created_at) SELECT 'sha256:' || lpad(to_hex(g), 64, '0'),"
                            "  1, 0 FROM generate_series(1, 200000) g;"
                            "INSERT INTO manifests(repo_id, digest, media_type, size, created_at, subject)"
                            "  SELECT CASE WHEN g <= 100000 THEN 1 ELSE 1 + g % 20000 END,"
                            "  'sha256:' || lpad(to_hex(g), 64, '0'), 'x', 1, 0,"
                            "  CASE WHEN g % 100 = 0 THEN 'sha256:' || lpad(to_hex(g - 1), 64, '0') END"
                            "  FROM generate_series(1, 200000) g;"
                            "INSERT INTO tags(repo_id, name, digest, updated_at) SELECT 1, 't' || g,"
                            "  'sha256:' || lpad(to_hex(g), 64, '0'), 0 FROM generate_series(1, 100000) g;"
                            "INSERT INTO repo_blobs(repo_id, digest, created_at) SELECT 1 + g % 20000,"
                            "  'sha256:' || lpad(to_hex(g), 64, '0'), 0 FROM generate_series(1, 200000) g;"
                            "INSERT INTO uploads(uuid, repo, created_at) SELECT 'u' || g, 'r', 0"
                            "  FROM generate_series(1, 10000) g;"
                            "ANALYZE");
        r = meta__plans_check(f->m, bad, sizeof(bad));
        /* a page costs the same at 100 or 100,000 rows */
        assert_string_equal(bad, "");
        assert_int_equal(r, 1);
}

/* ---- blobs ---- */

static void test_blob_link_linked_unlink(void **state) {
        fixture_t *f = *state;
        digest_t d = dg("blob");
        uint64_t size = 0;

        assert_int_equal(meta_blob_linked(f->m, "a/b", &d, &size), 0);
        assert_int_equal(meta_blob_link(f->m, "a/b", &d, 4), 0);
        assert_int_equal(meta_blob_link(f->m, "a/b", &d, 4), 0); /* again: no-op */
        assert_int_equal(meta_blob_linked(f->m, "a/b", &d, &size), 1);
        assert_int_equal(size, 4);
        assert_int_equal(meta_blob_unlink(f->m, "a/b", &d), 1);
        assert_int_equal(meta_blob_linked(f->m, "a/b", &d, NULL), 0);
        assert_int_equal(meta_blob_unlink(f->m, "a/b", &d), 0);
}

/* A meta_t on a pooled connection, for a job on a thread of its own (an upload's
 * commit beside the event loop): it writes like any other, and its connection goes
 * back to the pool at meta_free, so that the next job's takes it again (its
 * statements prepared once) instead of opening one. */
typedef struct {
        db_t *db;
        const char *repo;
        db_conn_t *conn;
        int r;
} pooled_job_t;

static void *pooled_main(void *arg) {
        pooled_job_t *j = arg;
        digest_t d = dg(j->repo);
        meta_t *m = NULL;

        j->r = meta_open_pooled(j->db, &m);
        if (j->r >= 0) {
                j->conn = meta_conn(m);
                j->r = meta_blob_link(m, j->repo, &d, 5);
        }
        meta_free(m);
        return NULL;
}

static void test_pooled_meta(void **state) {
        fixture_t *f = *state;
        pooled_job_t a = { .db = meta_db(f->m), .repo = "p/a" }, b = { .db = meta_db(f->m), .repo = "p/b" };
        digest_t da = dg("p/a"), db = dg("p/b");
        pthread_t th;

        assert_int_equal(pthread_create(&th, NULL, pooled_main, &a), 0);
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_int_equal(a.r, 0);
        assert_int_equal(pthread_create(&th, NULL, pooled_main, &b), 0);
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_int_equal(b.r, 0);
        assert_ptr_equal(a.conn, b.conn); /* the pool's, used again */
        assert_ptr_not_equal(a.conn, meta_conn(f->m));
        /* their writes are the database's */
        assert_int_equal(meta_blob_linked(f->m, "p/a", &da, NULL), 1);
        assert_int_equal(meta_blob_linked(f->m, "p/b", &db, NULL), 1);
}

static void test_repo_sees_only_its_own_blobs(void **state) {
        fixture_t *f = *state;
        digest_t d = dg("private");
        char *repo = NULL;
        uint64_t size = 0;

        link_blob(f, "team/zeta", "private");
        link_blob(f, "team/alpha", "private");
        assert_int_equal(meta_blob_linked(f->m, "team/other", &d, NULL), 0);
        assert_int_equal(meta_blob_linked(f->m, "team", &d, NULL), 0);
        assert_int_equal(meta_blob_linked(f->m, "team/zeta", &d, NULL), 1);

        assert_int_equal(meta_blob_find_repo(f->m, &d, &repo, &size), 1);
        assert_string_equal(repo, "team/alpha"); /* lexically first */
        assert_int_equal(size, 7);
        free(repo);
        assert_int_equal(meta_blob_unlink(f->m, "team/alpha", &d), 1);
        assert_int_equal(meta_blob_linked(f->m, "team/zeta", &d, NULL), 1);
        {
                digest_t none = dg("nowhere");
                repo = NULL;
                assert_int_equal(meta_blob_find_repo(f->m, &none, &repo, NULL), 0);
                assert_null(repo);
        }
}

static void test_repo_exists(void **state) {
        fixture_t *f = *state;

        assert_int_equal(meta_repo_exists(f->m, "lib/app"), 0);
        link_blob(f, "lib/app", "x");
        assert_int_equal(meta_repo_exists(f->m, "lib/app"), 1);
        assert_int_equal(meta_repo_exists(f->m, "lib"), 0);
}

/* ---- manifests ---- */

static void test_manifest_put_missing_blob_writes_nothing(void **state) {
        fixture_t *f = *state;
        meta_ref_t refs[2] = { { .digest = dg("config") }, { .digest = dg("missing layer") } };
        const char *tags[] = { "v1" };
        meta_manifest_t mf = {
                .repo = "lib/app", .digest = dg("manifest"), .size = 8,
                .media_type = MT_IMAGE, .refs = refs, .n_refs = 2,
        };
        meta_manifest_info_t info;
        digest_t missing = { 0 };
        char **v = NULL;
        bool more = true;

        link_blob(f, "lib/other", "missing layer"); /* present, but in another repo */
        assert_int_equal(meta_blob_link(f->m, "lib/app", &refs[0].digest, 6), 0);
        assert_int_equal(meta_manifest_put(f->m, &mf, tags, 1, &missing), BERTH_EMANIFEST_BLOB_UNKNOWN);
        assert_true(digest_equal(&missing, &refs[1].digest));
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "v1", &info), 0);
        assert_int_equal(meta_manifest_get(f->m, "lib/app", mf.digest.str, &info), 0);
        assert_int_equal(meta_tags_list(f->m, "lib/app", NULL, 10, &v, &more), 0);
        assert_int_equal(strv_len(v), 0);
        assert_false(more);
        meta_strv_free(v);
}

static void test_manifest_put_missing_repo_writes_nothing(void **state) {
        fixture_t *f = *state;
        meta_ref_t ref = { .digest = dg("layer") };
        meta_manifest_t mf = {
                .repo = "fresh/repo", .digest = dg("manifest"), .size = 8,
                .media_type = MT_IMAGE, .refs = &ref, .n_refs = 1,
        };
        char **v = NULL;
        bool more = true;

        assert_int_equal(meta_manifest_put(f->m, &mf, NULL, 0, NULL), BERTH_EMANIFEST_BLOB_UNKNOWN);
        assert_int_equal(meta_repo_exists(f->m, "fresh/repo"), 0);
        assert_int_equal(meta_catalog(f->m, NULL, 10, &v, &more), 0);
        assert_int_equal(strv_len(v), 0); /* the repository row was rolled back too */
        meta_strv_free(v);
}

static void test_index_needs_child_manifest_in_repo(void **state) {
        fixture_t *f = *state;
        digest_t child = put_image(f, "lib/other", "child", NULL, 0);
        meta_ref_t ref = { .digest = child, .is_manifest = true };
        meta_manifest_t idx = {
                .repo = "lib/app", .digest = dg("index"), .size = 5,
                .media_type = MT_INDEX, .refs = &ref, .n_refs = 1,
        };
        meta_manifest_info_t info;
        digest_t missing = { 0 };

        /* the child exists, in another repository only */
        assert_int_equal(meta_manifest_put(f->m, &idx, NULL, 0, &missing), BERTH_EMANIFEST_BLOB_UNKNOWN);
        assert_true(digest_equal(&missing, &child));
        /* a blob with the child's digest is not a manifest */
        assert_int_equal(meta_blob_link(f->m, "lib/app", &child, 5), 0);
        assert_int_equal(meta_manifest_put(f->m, &idx, NULL, 0, NULL), BERTH_EMANIFEST_BLOB_UNKNOWN);

        (void) put_image(f, "lib/app", "child", NULL, 0);
        assert_int_equal(meta_manifest_put(f->m, &idx, NULL, 0, NULL), 0);
        assert_int_equal(meta_manifest_get(f->m, "lib/app", idx.digest.str, &info), 1);
        assert_string_equal(info.media_type, MT_INDEX);
}

static void test_manifest_get_by_tag_and_digest(void **state) {
        fixture_t *f = *state;
        const char *tags[] = { "latest", "1.0" };
        digest_t d = put_image(f, "lib/app", "image one", tags, 2);
        meta_manifest_info_t info;

        memset(&info, 0, sizeof(info));
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "latest", &info), 1);
        assert_true(digest_equal(&info.digest, &d));
        assert_int_equal(info.size, strlen("image one"));
        assert_string_equal(info.media_type, MT_IMAGE);

        memset(&info, 0, sizeof(info));
        assert_int_equal(meta_manifest_get(f->m, "lib/app", d.str, &info), 1);
        assert_true(digest_equal(&info.digest, &d));
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "1.0", &info), 1);

        assert_int_equal(meta_manifest_get(f->m, "lib/app", "nope", &info), 0);
        assert_int_equal(meta_manifest_get(f->m, "lib/other", "latest", &info), 0);
        assert_int_equal(meta_manifest_get(f->m, "lib/other", d.str, &info), 0);
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "sha256:abc", &info), BERTH_EDIGEST_INVALID);
}

static void test_manifest_put_twice_is_noop(void **state) {
        fixture_t *f = *state;
        const char *t1[] = { "a" }, *t2[] = { "b" };
        digest_t d1 = put_image(f, "lib/app", "same", t1, 1);
        digest_t d2 = put_image(f, "lib/app", "same", t2, 1);
        meta_manifest_info_t info;

        assert_true(digest_equal(&d1, &d2));
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "a", &info), 1);
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "b", &info), 1);
        assert_true(digest_equal(&info.digest, &d1));
}

static void test_tag_move(void **state) {
        fixture_t *f = *state;
        const char *tags[] = { "latest" };
        digest_t d1 = put_image(f, "lib/app", "old", tags, 1);
        digest_t d2 = put_image(f, "lib/app", "new", tags, 1);
        meta_manifest_info_t info;

        assert_int_equal(meta_manifest_get(f->m, "lib/app", "latest", &info), 1);
        assert_true(digest_equal(&info.digest, &d2));
        assert_int_equal(meta_manifest_get(f->m, "lib/app", d1.str, &info), 1); /* still there */
}

static void test_manifest_delete_removes_its_tags(void **state) {
        fixture_t *f = *state;
        const char *tags1[] = { "a", "b" }, *tags2[] = { "c" };
        digest_t d1 = put_image(f, "lib/app", "one", tags1, 2);
        (void) put_image(f, "lib/app", "two", tags2, 1);
        meta_manifest_info_t info;
        char **v = NULL;
        bool more = true;

        assert_int_equal(meta_manifest_delete(f->m, "lib/other", &d1), 0);
        assert_int_equal(meta_manifest_delete(f->m, "lib/app", &d1), 1);
        assert_int_equal(meta_manifest_get(f->m, "lib/app", d1.str, &info), 0);
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "a", &info), 0);
        assert_int_equal(meta_tags_list(f->m, "lib/app", NULL, 10, &v, &more), 0);
        assert_int_equal(strv_len(v), 1);
        assert_string_equal(v[0], "c");
        meta_strv_free(v);
        assert_int_equal(meta_manifest_delete(f->m, "lib/app", &d1), 0);
        /* the blob row stays for GC to judge */
        {
                digest_t layer = dg("layer");
                assert_int_equal(meta_blob_linked(f->m, "lib/app", &layer, NULL), 1);
        }
}

static void test_tag_delete(void **state) {
        fixture_t *f = *state;
        const char *tags[] = { "x", "y" };
        digest_t d = put_image(f, "lib/app", "img", tags, 2);
        meta_manifest_info_t info;

        assert_int_equal(meta_tag_delete(f->m, "lib/app", "x"), 1);
        assert_int_equal(meta_tag_delete(f->m, "lib/app", "x"), 0);
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "x", &info), 0);
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "y", &info), 1);
        assert_int_equal(meta_manifest_get(f->m, "lib/app", d.str, &info), 1);
}


/* ---- the manifest cache (storage/mcache.c) ---- */

/* m's answer for reference in repo becomes want (NULL: not found) within 10 s
 * (PostgreSQL: a notification from another process takes its delivery time;
 * SQLite: at once). */
static void expect_soon(meta_t *m, const char *repo, const char *reference, const digest_t *want) {
        meta_manifest_info_t info;
        int r = -1;

        for (int i = 0; i < 1000; i++) {
                r = meta_manifest_get(m, repo, reference, &info);
                if (want ? r == 1 && digest_equal(&info.digest, want) : r == 0)
                        return;
                if (!fx_pg())
                        break;
                usleep(10000);
        }
        fail_msg("%s:%s: %d, not %s", repo, reference, r, want ? want->str : "absent");
}

/* Two handles with databases of their own on one database, as two replicas: a
 * tag moved and a manifest deleted through one are what the other answers next
 * (from its cache before the change, which the change's notification retires). */
static void test_cache_tag_move_and_delete_seen_by_other_handle(void **state) {
        fixture_t *f = *state;
        const char *tags[] = { "latest" };
        meta_t *b = NULL;
        meta_manifest_info_t info;
        digest_t d1, d2;

        assert_int_equal(meta_open(f->path, &b), 0);
        if (fx_pg()) {
                wait_listening(meta_db(f->m));
                wait_listening(meta_db(b));
        }
        d1 = put_image(f, "lib/app", "old", tags, 1);
        assert_int_equal(meta_manifest_get(b, "lib/app", "latest", &info), 1);
        assert_true(digest_equal(&info.digest, &d1));
        assert_int_equal(meta_manifest_get(b, "lib/app", d1.str, &info), 1);
        assert_int_equal(meta_manifest_get(b, "lib/app", "latest", &info), 1); /* cached */
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "latest", &info), 1); /* the writer's too */
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "latest", &info), 1);
        d2 = put_image(f, "lib/app", "new", tags, 1);
        /* the writer's own cache at once, before its call returned (SQLite: its own
         * connection's write does not move its data_version: the notification does) */
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "latest", &info), 1);
        assert_true(digest_equal(&info.digest, &d2));
        expect_soon(b, "lib/app", "latest", &d2);
        assert_int_equal(meta_manifest_get(b, "lib/app", d2.str, &info), 1);
        assert_int_equal(meta_manifest_delete(f->m, "lib/app", &d2), 1);
        expect_soon(b, "lib/app", d2.str, NULL);
        expect_soon(b, "lib/app", "latest", NULL);
        /* and the writer's own cache at once, before its call returned */
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "latest", &info), 0);
        assert_int_equal(meta_tag_delete(f->m, "lib/app", "nothing"), 0);
        meta_free(b);
}

/* Manifests GC removes (untagged ones, by policy) leave the manifest caches of
 * this handle at once and of another handle (another process) soon. */
static void test_cache_forgets_what_gc_removes(void **state) {
        fixture_t *f = *state;
        meta_t *b = NULL;
        meta_manifest_info_t info;
        uint64_t n = 0;
        digest_t d;

        assert_int_equal(meta_open(f->path, &b), 0);
        if (fx_pg()) {
                wait_listening(meta_db(f->m));
                wait_listening(meta_db(b));
        }
        d = put_image(f, "lib/app", "untagged", NULL, 0);
        for (int i = 0; i < 2; i++) { /* the second answer from the cache */
                assert_int_equal(meta_manifest_get(f->m, "lib/app", d.str, &info), 1);
                assert_int_equal(meta_manifest_get(b, "lib/app", d.str, &info), 1);
        }
        assert_int_equal(meta_gc_manifests(f->m, (int64_t) time(NULL) + 1, true, NULL, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(meta_manifest_get(f->m, "lib/app", d.str, &info), 0);
        expect_soon(b, "lib/app", d.str, NULL);
        meta_free(b);
}

/* PostgreSQL: the cache answers without the database (a write that tells no one
 * is not seen), and when the notification connection is lost, what it holds is
 * no longer served: bypassed while the connection is down, emptied when it is
 * back (the epoch moved on). */
static void test_cache_flushed_when_listener_lost(void **state) {
        fixture_t *f = *state;
        const char *tags[] = { "latest" };
        db_t *db = meta_db(f->m);
        meta_manifest_info_t info;
        digest_t d1, d2;
        uint64_t e1;
        char sql[400];

        if (!fx_pg())
                skip();
        wait_listening(db);
        d1 = put_image(f, "lib/app", "old", tags, 1);
        d2 = put_image(f, "lib/app", "new", NULL, 0);
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "latest", &info), 1);
        assert_true(digest_equal(&info.digest, &d1));
        snprintf(sql, sizeof(sql), "UPDATE tags SET digest = '%s' WHERE name = 'latest'", d2.str);
        raw_exec_notify(f, sql, false);
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "latest", &info), 1);
        assert_true(digest_equal(&info.digest, &d1)); /* from the cache: nobody told it */
        e1 = db_cache_epoch(db, NULL);
        assert_true(e1 != 0);
        raw_exec_notify(f, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                           " WHERE application_name = 'berthd-listen' AND datname = current_database()", false);
        for (int i = 0; i < 1000 && db_cache_epoch(db, NULL) == e1; i++)
                usleep(10000);
        assert_true(db_cache_epoch(db, NULL) != e1);
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "latest", &info), 1);
        assert_true(digest_equal(&info.digest, &d2));
        wait_listening(db); /* back: cached again, from the database's answer */
        assert_true(db_cache_epoch(db, NULL) != e1);
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "latest", &info), 1);
        assert_true(digest_equal(&info.digest, &d2));
}

/* SQLite: a write by another process (the admin commands while the server runs)
 * sends no notification; PRAGMA data_version shows it and the caches are emptied. */
static void test_cache_sees_other_process_write(void **state) {
        fixture_t *f = *state;
        const char *tags[] = { "latest" };
        meta_manifest_info_t info;
        digest_t d1, d2;
        char sql[400];
        pid_t pid;
        int status = 0;

        if (fx_pg())
                skip(); /* PostgreSQL: the writer notifies (test above) */
        d1 = put_image(f, "lib/app", "old", tags, 1);
        d2 = put_image(f, "lib/app", "new", NULL, 0);
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "latest", &info), 1);
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "latest", &info), 1);
        assert_true(digest_equal(&info.digest, &d1));
        snprintf(sql, sizeof(sql), "UPDATE tags SET digest = '%s' WHERE name = 'latest'", d2.str);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                sqlite3 *db = NULL;
                int ok = sqlite3_open(f->path, &db) == SQLITE_OK &&
                         sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
                sqlite3_close(db);
                _exit(ok ? 0 : 1);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "latest", &info), 1);
        assert_true(digest_equal(&info.digest, &d2));
}

/* ---- listings ---- */

static void expect_page(char **v, const char *const *want, size_t n_want) {
        assert_int_equal(strv_len(v), n_want);
        for (size_t i = 0; i < n_want; i++)
                assert_string_equal(v[i], want[i]);
}

static void test_tags_list_pagination(void **state) {
        fixture_t *f = *state;
        const char *tags[] = { "b", "a", "c", "aa", "B" };
        char **v = NULL;
        bool more = false;

        (void) put_image(f, "lib/app", "img", tags, 5);
        (void) put_image(f, "lib/noise", "img", tags, 5); /* other repos do not leak in */

        assert_int_equal(meta_tags_list(f->m, "lib/app", NULL, 100, &v, &more), 0);
        expect_page(v, (const char *[]){ "B", "a", "aa", "b", "c" }, 5);
        assert_false(more);
        v = meta_strv_free(v);

        assert_int_equal(meta_tags_list(f->m, "lib/app", NULL, 2, &v, &more), 0);
        expect_page(v, (const char *[]){ "B", "a" }, 2);
        assert_true(more);
        v = meta_strv_free(v);

        assert_int_equal(meta_tags_list(f->m, "lib/app", "a", 2, &v, &more), 0);
        expect_page(v, (const char *[]){ "aa", "b" }, 2);
        assert_true(more);
        v = meta_strv_free(v);

        assert_int_equal(meta_tags_list(f->m, "lib/app", "b", 2, &v, &more), 0);
        expect_page(v, (const char *[]){ "c" }, 1);
        assert_false(more);
        v = meta_strv_free(v);

        assert_int_equal(meta_tags_list(f->m, "lib/app", "ab", 1, &v, &more), 0); /* last need not exist */
        expect_page(v, (const char *[]){ "b" }, 1);
        assert_true(more);
        v = meta_strv_free(v);

        more = false;
        assert_int_equal(meta_tags_list(f->m, "lib/app", NULL, 0, &v, &more), 0);
        expect_page(v, NULL, 0);
        assert_true(more);
        v = meta_strv_free(v);

        more = true;
        assert_int_equal(meta_tags_list(f->m, "lib/app", "c", 0, &v, &more), 0);
        expect_page(v, NULL, 0);
        assert_false(more);
        v = meta_strv_free(v);

        more = true;
        assert_int_equal(meta_tags_list(f->m, "lib/none", NULL, 5, &v, &more), 0);
        expect_page(v, NULL, 0);
        assert_false(more);
        meta_strv_free(v);
}

/* The catalog of a caller who sees only some namespaces equals the full catalog
 * filtered by first path component, for every page size and starting point. */
static void test_catalog_under_matches_filtered_catalog(void **state) {
        fixture_t *f = *state;
        const char *repos[] = { "a", "a/x", "a-b/y", "a.c/z", "a/y/z", "ab/q", "b/1", "b/2", "c",
                                "c/1", "team/app", "team-b/app", "team_x/app", "team.x", "z/9" };
        const char *const sets[][4] = { { "a", "c", "team", NULL }, { "a", "a-b", NULL },
                                        { "nothing", NULL }, { NULL }, { "a", "a-b", "a.c", "ab" },
                                        { "team", "team-b", "team.x", "team_x" }, { "b", "z", NULL } };
        const char *lasts[] = { NULL, "", "a", "a-b/y", "a/x", "a0", "b", "c/1", "m", "team/app", "zz" };
        char **all = NULL, **v = NULL;
        bool more;

        for (size_t i = 0; i < ELEMENTSOF(repos); i++)
                link_blob(f, repos[i], "x");
        assert_int_equal(meta_catalog(f->m, NULL, 1000, &all, &more), 0);
        assert_int_equal(strv_len(all), ELEMENTSOF(repos));
        for (size_t s = 0; s < ELEMENTSOF(sets); s++) {
                size_t n_tops = 0;
                while (n_tops < 4 && sets[s][n_tops])
                        n_tops++;
                for (size_t l = 0; l < ELEMENTSOF(lasts); l++)
                        for (size_t n = 0; n <= 8; n++) {
                                const char *want[ELEMENTSOF(repos)];
                                size_t n_want = 0, total = 0;

                                for (size_t i = 0; all[i]; i++) {
                                        size_t tl = strcspn(all[i], "/");
                                        bool seen = false;
                                        for (size_t t = 0; t < n_tops; t++)
                                                seen |= strlen(sets[s][t]) == tl &&
                                                        strncmp(all[i], sets[s][t], tl) == 0;
                                        if (!seen || (lasts[l] && strcmp(all[i], lasts[l]) <= 0))
                                                continue;
                                        if (n_want < n)
                                                want[n_want++] = all[i];
                                        total++;
                                }
                                more = !(total > n);
                                assert_int_equal(meta_catalog_under(f->m, sets[s], n_tops, lasts[l], n, &v,
                                                                    &more), 0);
                                expect_page(v, want, n_want);
                                assert_int_equal(more, total > n);
                                v = meta_strv_free(v);
                        }
        }
        meta_strv_free(all);
}

/* Walking n=1 pages names only visible repositories, each once, in order. */
static void test_catalog_under_walk(void **state) {
        fixture_t *f = *state;
        const char *repos[] = { "alice/app", "hidden/a", "hidden/b", "pub", "pub/x", "secret/z" };
        const char *const tops[] = { "alice", "pub" };
        const char *want[] = { "alice/app", "pub", "pub/x" };
        char **v = NULL, last[256] = "";
        bool more = true;
        size_t pages = 0;

        for (size_t i = 0; i < ELEMENTSOF(repos); i++)
                link_blob(f, repos[i], "x");
        while (more) {
                assert_true(pages < ELEMENTSOF(want));
                assert_int_equal(meta_catalog_under(f->m, tops, 2, pages ? last : NULL, 1, &v, &more), 0);
                expect_page(v, &want[pages], 1);
                snprintf(last, sizeof(last), "%s", v[0]);
                v = meta_strv_free(v);
                pages++;
        }
        assert_int_equal(pages, ELEMENTSOF(want));
}

static void test_catalog_pagination(void **state) {
        fixture_t *f = *state;
        const char *repos[] = { "lib/b", "lib/a", "z", "lib/a/sub", "Lib" };
        char **v = NULL;
        bool more = false;

        for (size_t i = 0; i < 5; i++)
                link_blob(f, repos[i], "x");

        assert_int_equal(meta_catalog(f->m, NULL, 1000, &v, &more), 0);
        expect_page(v, (const char *[]){ "Lib", "lib/a", "lib/a/sub", "lib/b", "z" }, 5);
        assert_false(more);
        v = meta_strv_free(v);

        assert_int_equal(meta_catalog(f->m, NULL, 2, &v, &more), 0);
        expect_page(v, (const char *[]){ "Lib", "lib/a" }, 2);
        assert_true(more);
        v = meta_strv_free(v);

        assert_int_equal(meta_catalog(f->m, "lib/a", 2, &v, &more), 0);
        expect_page(v, (const char *[]){ "lib/a/sub", "lib/b" }, 2);
        assert_true(more);
        v = meta_strv_free(v);

        assert_int_equal(meta_catalog(f->m, "lib/b", 2, &v, &more), 0);
        expect_page(v, (const char *[]){ "z" }, 1);
        assert_false(more);
        v = meta_strv_free(v);

        more = false;
        assert_int_equal(meta_catalog(f->m, NULL, 0, &v, &more), 0);
        expect_page(v, NULL, 0);
        assert_true(more);
        v = meta_strv_free(v);

        more = true;
        assert_int_equal(meta_catalog(f->m, "z", 0, &v, &more), 0);
        expect_page(v, NULL, 0);
        assert_false(more);
        meta_strv_free(v);
}

/* ---- referrers ---- */

static void test_referrers(void **state) {
        fixture_t *f = *state;
        digest_t subject = put_image(f, "lib/app", "subject", NULL, 0);
        digest_t other = put_image(f, "lib/app", "other subject", NULL, 0);
        digest_t sig = put_referrer(f, "lib/app", "signature", &subject, "application/vnd.sig");
        digest_t sbom = put_referrer(f, "lib/app", "sbom", &subject, "application/spdx+json");
        meta_referrer_t *v = NULL;
        size_t n = 99;

        (void) put_referrer(f, "lib/app", "unrelated", &other, "application/vnd.sig");
        (void) put_referrer(f, "lib/elsewhere", "foreign", &subject, "application/vnd.sig");

        assert_int_equal(meta_referrers(f->m, "lib/app", &subject, NULL, &v, &n), 0);
        assert_int_equal(n, 2);
        /* digest order */
        {
                const digest_t *first = strcmp(sig.str, sbom.str) < 0 ? &sig : &sbom;
                const digest_t *second = first == &sig ? &sbom : &sig;
                assert_true(digest_equal(&v[0].digest, first));
                assert_true(digest_equal(&v[1].digest, second));
        }
        assert_string_equal(v[0].media_type, MT_IMAGE);
        assert_string_equal(v[0].annotations_json, "{\"k\":\"v\"}");
        assert_int_equal(v[0].size, 100);
        meta_referrers_free(v, n);

        v = NULL;
        assert_int_equal(meta_referrers(f->m, "lib/app", &subject, "application/vnd.sig", &v, &n), 0);
        assert_int_equal(n, 1);
        assert_true(digest_equal(&v[0].digest, &sig));
        assert_string_equal(v[0].artifact_type, "application/vnd.sig");
        meta_referrers_free(v, n);

        v = NULL;
        assert_int_equal(meta_referrers(f->m, "lib/app", &subject, "application/none", &v, &n), 0);
        assert_int_equal(n, 0);
        meta_referrers_free(v, n);

        v = NULL;
        assert_int_equal(meta_referrers(f->m, "lib/app", &sig, NULL, &v, &n), 0);
        assert_int_equal(n, 0);
        meta_referrers_free(v, n);
}

/* ---- uploads ---- */

static void test_uploads_add_get_delete(void **state) {
        fixture_t *f = *state;
        const char *uuid = "0f0e0d0c-0b0a-4908-8706-050403020100";
        char *repo = NULL;

        assert_int_equal(meta_upload_get(f->m, uuid, &repo), 0);
        assert_int_equal(meta_upload_add(f->m, uuid, "lib/app"), 0);
        assert_int_equal(meta_upload_get(f->m, uuid, &repo), 1);
        assert_string_equal(repo, "lib/app");
        free(repo);
        assert_int_not_equal(meta_upload_add(f->m, uuid, "lib/other"), 0); /* unique */
        assert_int_equal(meta_upload_delete(f->m, uuid), 1);
        assert_int_equal(meta_upload_get(f->m, uuid, NULL), 0);
        assert_int_equal(meta_upload_delete(f->m, uuid), 0);
}

/* ---- damaged rows, a busy database, limits ---- */

/* A row that does not parse (a digest, a media type longer than any) is a database
 * error, BERTH_EDB, never a half-filled answer. */
static void test_damaged_rows_are_db_errors(void **state) {
        fixture_t *f = *state;
        const char *tags[] = { "v1" };
        digest_t img = put_image(f, "lib/app", "image", tags, 1), sig;
        meta_manifest_info_t info;
        meta_referrer_t *v = NULL;
        size_t n = 0;
        char sql[600];

        sig = put_referrer(f, "lib/app", "signature", &img, "application/vnd.sig");
        (void) put_referrer(f, "lib/app", "sbom", &img, "application/spdx+json");
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "v1", &info), 1);
        /* the media type longer than meta_manifest_info_t holds */
        snprintf(sql, sizeof(sql), "UPDATE manifests SET media_type = %s WHERE digest = '%s'",
                 fx_pg() ? "repeat('x', 300)" : "printf('%.300c', 'x')", img.str);
        raw_exec(f, sql);
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "v1", &info), BERTH_EDB);
        /* a digest that does not parse, under the tag and by itself */
        snprintf(sql, sizeof(sql),
                 "UPDATE manifests SET digest = 'sha256:zz' WHERE digest = '%s';"
                 "UPDATE tags SET digest = 'sha256:zz' WHERE digest = '%s'", img.str, img.str);
        raw_exec(f, sql);
        assert_int_equal(meta_manifest_get(f->m, "lib/app", "v1", &info), BERTH_EDB);
        /* a referrer whose digest does not parse, after one that does: nothing returned */
        snprintf(sql, sizeof(sql), "UPDATE manifests SET digest = 'sha256:~' WHERE digest = '%s'", sig.str);
        raw_exec(f, sql);
        assert_int_equal(meta_referrers(f->m, "lib/app", &img, NULL, &v, &n), BERTH_EDB);
        assert_null(v);
}

/* Another connection holds the write lock past the busy timeout: a write gives up
 * with BERTH_EBUSY (after DB_BUSY_TIMEOUT_MS), reads go on (WAL), and the connection
 * is usable again once the lock is gone (no transaction left open). */
static void test_busy_database(void **state) {
        fixture_t *f = *state;
        digest_t d = dg("blob");
        uint64_t size = 0;
        sqlite3 *db = NULL;
        PGconn *pc = NULL;
        PGresult *res;
        char sql[128];

        link_blob(f, "lib/app", "first");
        if (fx_pg()) { /* another replica inside a write transaction */
                pc = PQconnectdb(f->path);
                assert_int_equal(PQstatus(pc), CONNECTION_OK);
                snprintf(sql, sizeof(sql), "BEGIN; SELECT pg_advisory_xact_lock(%lld)", (long long) DB_PG_WRITE_LOCK_KEY);
                res = PQexec(pc, sql);
                assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
                PQclear(res);
        } else {
                assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
                assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
        }
        assert_int_equal(meta_blob_link(f->m, "lib/app", &d, 4), BERTH_EBUSY);
        assert_int_equal(meta_repo_exists(f->m, "lib/app"), 1);
        assert_int_equal(meta_blob_linked(f->m, "lib/app", &d, &size), 0);
        if (pc) {
                res = PQexec(pc, "ROLLBACK");
                PQclear(res);
                PQfinish(pc);
        } else {
                assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
                sqlite3_close(db);
        }
        assert_int_equal(meta_blob_link(f->m, "lib/app", &d, 4), 0);
        assert_int_equal(meta_blob_linked(f->m, "lib/app", &d, &size), 1);
        assert_int_equal(size, 4);
}

/* Values the schema cannot hold are refused before anything is written. */
static void test_limits_write_nothing(void **state) {
        fixture_t *f = *state;
        digest_t d = dg("x");
        char long_mt[400];
        const char *null_tag[] = { NULL };
        meta_manifest_t mf = { .repo = "lim/app", .digest = dg("m"), .size = 1, .media_type = MT_IMAGE };

        assert_int_equal(meta_blob_link(f->m, "lim/app", &d, (uint64_t) INT64_MAX + 1), -EOVERFLOW);
        memset(long_mt, 'a', sizeof(long_mt) - 1);
        long_mt[sizeof(long_mt) - 1] = '\0';
        mf.media_type = long_mt;
        assert_int_equal(meta_manifest_put(f->m, &mf, NULL, 0, NULL), BERTH_EMANIFEST);
        mf.media_type = MT_IMAGE;
        mf.size = (uint64_t) INT64_MAX + 1;
        assert_int_equal(meta_manifest_put(f->m, &mf, NULL, 0, NULL), -EOVERFLOW);
        mf.size = 1;
        assert_int_equal(meta_manifest_put(f->m, &mf, null_tag, 1, NULL), -EINVAL);
        assert_int_equal(meta_repo_exists(f->m, "lim/app"), 0);
}

/* A file that is not a database (damaged, or something else at the path) fails the
 * open with an error and is left as it was: never overwritten by a fresh schema. */
static void test_open_refuses_a_file_that_is_not_a_database(void **state) {
        fixture_t *f = *state;
        char path[400], junk[4096], back[4096];
        meta_t *m = NULL;
        FILE *fp;
        int r;

        for (size_t i = 0; i < sizeof(junk); i++)
                junk[i] = (char) ('a' + i % 26);
        snprintf(path, sizeof(path), "%s/junk.db", f->dir);
        fp = fopen(path, "w");
        assert_non_null(fp);
        assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
        fclose(fp);
        r = meta_open(path, &m);
        assert_true(r < 0);
        assert_null(m);
        fp = fopen(path, "r");
        assert_non_null(fp);
        assert_int_equal(fread(back, 1, sizeof(back), fp), sizeof(back));
        fclose(fp);
        assert_memory_equal(back, junk, sizeof(junk));
}

/* The metrics' figures: blob rows, their bytes, sessions in progress. */
static void test_stats(void **state) {
        fixture_t *f = *state;
        meta_stats_t st;

        assert_int_equal(meta_stats(f->m, &st), 0);
        assert_true(st.blobs == 0 && st.blob_bytes == 0 && st.uploads == 0);
        link_blob(f, "lib/a", "a");
        link_blob(f, "lib/b", "bb");
        link_blob(f, "lib/b", "a"); /* the same blob in another repository: one row */
        assert_int_equal(meta_upload_add(f->m, "00000000-0000-4000-8000-000000000001", "lib/a"), 0);
        assert_int_equal(meta_stats(f->m, &st), 0);
        assert_int_equal(st.blobs, 2);
        assert_int_equal(st.blob_bytes, 3);
        assert_int_equal(st.uploads, 1);
}

static int count_gone(void *userdata, const digest_t *d, uint64_t size) {
        digest_t *seen = userdata;

        (void) size;
        *seen = *d;
        return 0;
}

/* GC leaves a blob row whose digest does not parse (not ours to judge: never
 * marked) and removes the rest of the garbage; the dry run removes nothing. */
static void test_gc_leaves_rows_it_cannot_read(void **state) {
        fixture_t *f = *state;
        meta_gc_dry_t dry;
        meta_stats_t st;
        digest_t d = dg("old"), seen = { 0 };
        meta_gc_sweep_t ops = { .gone = count_gone, .userdata = &seen };
        int64_t now = (int64_t) time(NULL);
        uint64_t blobs, bytes;

        link_blob(f, "lib/a", "old");
        assert_int_equal(meta_blob_unlink(f->m, "lib/a", &d), 1);
        raw_exec(f, "INSERT INTO blobs(digest, size, created_at) VALUES ('not a digest', 7, 0)");
        assert_int_equal(meta_gc_blobs_mark(f->m, now, NULL), 0);
        assert_int_equal(meta_gc_dry(f->m, now, false, false, &dry), 0);
        assert_int_equal(dry.blobs, 1);
        assert_int_equal(dry.bytes, 3);
        assert_int_equal(meta_blob_known(f->m, &d), 1);
        /* marked a moment ago: not old enough for a sweep with a grace period */
        assert_int_equal(meta_gc_blobs_sweep(f->m, now - 1, &ops, NULL, &blobs, &bytes), 0);
        assert_int_equal(blobs, 0);
        assert_int_equal(meta_blob_known(f->m, &d), 1);
        assert_int_equal(meta_gc_blobs_sweep(f->m, now, &ops, NULL, &blobs, &bytes), 0);
        assert_int_equal(blobs, 1);
        assert_int_equal(bytes, 3);
        assert_true(digest_equal(&seen, &d));
        assert_int_equal(meta_blob_known(f->m, &d), 0);
        assert_int_equal(meta_stats(f->m, &st), 0);
        assert_int_equal(st.blobs, 1); /* the row it could not read */
}

/* ---- usage per project ---- */

static void assert_usage(fixture_t *f, const char *project, uint64_t blobs, uint64_t bytes) {
        meta_usage_t u = { 99, 99 };

        assert_int_equal(meta_usage(f->m, project, &u), 0);
        if (u.blobs != blobs || u.bytes != bytes)
                fail_msg("usage of %s: %llu blobs, %llu bytes; expected %llu, %llu", project,
                         (unsigned long long) u.blobs, (unsigned long long) u.bytes, (unsigned long long) blobs,
                         (unsigned long long) bytes);
}

static void test_usage_per_project(void **state) {
        fixture_t *f = *state;
        const uint64_t image = 6 + 5; /* "config" and "layer" */

        assert_usage(f, "team", 0, 0);
        /* team: an image (config, layer, manifest "m1") in two repositories, plus a
         * blob of its own in one; config and layer counted once */
        put_image(f, "team/app", "m1", NULL, 0);
        put_image(f, "team/deep/web", "m1", NULL, 0);
        link_blob(f, "team/app", "only-team");
        assert_usage(f, "team", 4, image + 2 + 9);
        /* team2 and team-x share the blobs and must not mix with team; the name
         * "team" itself is team's */
        put_image(f, "team2/app", "m2", NULL, 0);
        link_blob(f, "team-x/app", "config");
        link_blob(f, "team.x/app", "layer");
        link_blob(f, "team", "bare-one");
        assert_usage(f, "team", 5, image + 2 + 9 + 8);
        assert_usage(f, "team2", 3, image + 2);
        assert_usage(f, "team-x", 1, 6);
        assert_usage(f, "team.x", 1, 5);
        assert_usage(f, "tea", 0, 0);
        /* a manifest deleted no longer counts; an unlinked blob neither */
        {
                digest_t d = dg("m2"), o = dg("only-team");
                assert_int_equal(meta_manifest_delete(f->m, "team2/app", &d), 1);
                assert_usage(f, "team2", 2, image);
                assert_int_equal(meta_blob_unlink(f->m, "team/app", &o), 1);
                assert_usage(f, "team", 4, image + 2 + 8);
        }
        /* no project: a name with a '/' or empty */
        {
                meta_usage_t u;
                assert_int_equal(meta_usage(f->m, "team/app", &u), -EINVAL);
                assert_int_equal(meta_usage(f->m, "", &u), -EINVAL);
        }
}

static void test_usage_all(void **state) {
        fixture_t *f = *state;
        meta_project_usage_t *v = NULL;
        size_t n = 99;
        /* byte order: team < team-x < team.x < team/... < team0 < team2 */
        static const char *const want[] = { "a", "team", "team-x", "team.x", "team0", "team2", "zz" };

        assert_int_equal(meta_usage_all(f->m, &v, &n), 0);
        assert_int_equal(n, 0);
        meta_usage_free(v, n);

        link_blob(f, "team/b", "layer");
        link_blob(f, "team/a", "layer");
        link_blob(f, "team/a/c", "config");
        link_blob(f, "team", "bare-one");
        link_blob(f, "team-x/app", "layer");
        link_blob(f, "team-x", "layer");
        link_blob(f, "team.x/app", "config");
        link_blob(f, "team0/app", "x");
        put_image(f, "team2/app", "m2", NULL, 0);
        link_blob(f, "a/b", "config");
        link_blob(f, "zz/top", "layer");
        assert_int_equal(meta_usage_all(f->m, &v, &n), 0);
        assert_int_equal(n, ELEMENTSOF(want));
        for (size_t i = 0; i < n; i++) {
                meta_usage_t u;
                assert_string_equal(v[i].project, want[i]);
                /* the same figures as one project's */
                assert_int_equal(meta_usage(f->m, want[i], &u), 0);
                assert_int_equal(v[i].usage.blobs, u.blobs);
                assert_int_equal(v[i].usage.bytes, u.bytes);
        }
        assert_int_equal(v[1].usage.blobs, 3); /* layer, config, bare-one */
        assert_int_equal(v[1].usage.bytes, 5 + 6 + 8);
        assert_int_equal(v[2].usage.blobs, 1); /* team-x: layer, in two repositories */
        assert_int_equal(v[5].usage.blobs, 3); /* team2: config, layer, manifest */
        assert_int_equal(v[5].usage.bytes, 6 + 5 + 2);
        meta_usage_free(v, n);

        /* without the name "team": team is met at team/a, after team-x and team.x */
        {
                digest_t d = dg("bare-one");
                assert_int_equal(meta_blob_unlink(f->m, "team", &d), 1);
                raw_exec(f, "DELETE FROM repositories WHERE name = 'team'");
        }
        assert_int_equal(meta_usage_all(f->m, &v, &n), 0);
        assert_int_equal(n, ELEMENTSOF(want));
        for (size_t i = 0; i < n; i++)
                assert_string_equal(v[i].project, want[i]);
        assert_int_equal(v[1].usage.blobs, 2);
        meta_usage_free(v, n);
}

int main(void) {
        const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
                T(test_migrations_apply_and_are_idempotent),
                T(test_concurrent_open_of_fresh_file),
                T(test_lookups_and_pages_are_index_searches),
                T(test_blob_link_linked_unlink),
                T(test_pooled_meta),
                T(test_repo_sees_only_its_own_blobs),
                T(test_repo_exists),
                T(test_manifest_put_missing_blob_writes_nothing),
                T(test_manifest_put_missing_repo_writes_nothing),
                T(test_index_needs_child_manifest_in_repo),
                T(test_manifest_get_by_tag_and_digest),
                T(test_manifest_put_twice_is_noop),
                T(test_tag_move),
                T(test_manifest_delete_removes_its_tags),
                T(test_tag_delete),
                T(test_cache_tag_move_and_delete_seen_by_other_handle),
                T(test_cache_forgets_what_gc_removes),
                T(test_cache_flushed_when_listener_lost),
                T(test_cache_sees_other_process_write),
                T(test_tags_list_pagination),
                T(test_catalog_pagination),
                T(test_catalog_under_matches_filtered_catalog),
                T(test_catalog_under_walk),
                T(test_referrers),
                T(test_uploads_add_get_delete),
                T(test_damaged_rows_are_db_errors),
                T(test_busy_database),
                T(test_limits_write_nothing),
                T(test_open_refuses_a_file_that_is_not_a_database),
                T(test_stats),
                T(test_gc_leaves_rows_it_cannot_read),
                T(test_usage_per_project),
                T(test_usage_all),
#undef T
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
