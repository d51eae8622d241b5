/* tests/unit/test-dbcopy.c: `berthd db copy` (storage/dbcopy): a database filled
 * through the real registry and auth functions is copied into a new one, and every
 * row of every table must come out equal; the keys go on from where they were; a
 * target holding rows, a target at another schema version and a target that loses
 * rows are refused with nothing written; and the copy's table list is held against
 * the SQLite schema, so that a table or a column a later migration adds cannot be
 * left out of the copy.
 *
 * On the PostgreSQL run (BERTH_TEST_ENGINE=pg, tests/unit/engine-pg-units.sh) the
 * same data also goes SQLite -> PostgreSQL -> a new SQLite file, which must equal
 * the first. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <cmocka.h>
#include <sqlite3.h>
#include "auth/auth-internal.h"
#include "common/base64.h"
#include "common/digest.h"
#include "common/err.h"
#include "common/file.h"
#include "common/manifest.h"
#include "storage/db.h"
#include "storage/dbcopy.h"
#include "storage/meta.h"
#include "storage/usage.h"
#include "storage/registry.h"
#include "storage/store.h"
#include "storage/proxycache.h"
#include "storage/retention.h"
#include "storage/webhook.h"
#include "fixture.h"

#define N_BLOBS 300  /* linked to two repositories: repo_blobs spans two pages */
#define N_AUDIT 1100 /* auth_audit spans three pages */

typedef struct {
        char dir[256];
        char src_dir[300], src[320];  /* the data directory filled, and its berth.db */
        char dst_dir[300], dst[320];  /* the target's */
        fx_clock_t clock;
        char *robot, *robot_secret;   /* a robot token of the source */
} fixture_t;

/* ---- filling the source through the real functions ---- */

static void push_blob(store_t *s, meta_t *m, const char *repo, const char *data, digest_t *ret) {
        char uuid[UPLOAD_UUID_LEN + 1];
        upload_t *u = NULL;

        assert_int_equal(store_upload_create(s, DIGEST_SHA256, uuid), 0);
        assert_int_equal(meta_upload_add(m, uuid, repo), 0);
        assert_int_equal(store_upload_acquire(s, uuid, &u), 0);
        assert_int_equal(fx_upload_write(u, data, strlen(data)), 0);
        assert_int_equal(digest_buf(DIGEST_SHA256, data, strlen(data), ret), 0);
        assert_int_equal(registry_upload_commit(s, m, u, repo, ret, NULL), 0);
        store_upload_release(u);
}

static void put_manifest(store_t *s, meta_t *m, const char *repo, const char *json, const char *type,
                         const char *tag, digest_t *ret) {
        const char *tags[] = { tag };
        registry_put_result_t res;

        assert_int_equal(registry_manifest_put(s, m, repo, json, strlen(json), type, NULL, tags, tag ? 1 : 0,
                                               &res), 0);
        if (ret)
                *ret = res.digest;
}

/* An image (config + one layer) in repo tagged tag, with an annotation. */
static void push_image(store_t *s, meta_t *m, const char *repo, const char *seed, const char *tag,
                       digest_t *ret) {
        char cfg[128], layer[128], *mf = NULL;
        digest_t dc, dl;

        snprintf(cfg, sizeof(cfg), "{\"config\":\"%s\"}", seed);
        snprintf(layer, sizeof(layer), "layer bytes of %s", seed);
        push_blob(s, m, repo, cfg, &dc);
        push_blob(s, m, repo, layer, &dl);
        assert_true(asprintf(&mf,
                             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                             "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                             "\"digest\":\"%s\",\"size\":%zu},"
                             "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
                             "\"digest\":\"%s\",\"size\":%zu}],"
                             "\"annotations\":{\"org.example.seed\":\"%s\"}}",
                             dc.str, strlen(cfg), dl.str, strlen(layer), seed) > 0);
        put_manifest(s, m, repo, mf, MT_OCI_MANIFEST, tag, ret);
        free(mf);
}

static const char *basic(char *buf, size_t size, const char *user, const char *pw) {
        char up[512];
        char *b64;

        snprintf(up, sizeof(up), "%s:%s", user, pw);
        b64 = base64_encode_alloc(BASE64_STD, up, strlen(up));
        assert_non_null(b64);
        snprintf(buf, size, "Basic %s", b64);
        free(b64);
        return buf;
}

/* Every table gets rows: repositories, blobs and their links (over a page), image
 * manifests with tags and annotations, an index (child manifest references), a
 * referrer (subject, artifact type), an upload in progress; users, projects,
 * members, robot tokens (one expiring), the install key and the audit trail. */
static void fill(fixture_t *f) {
        auth_options_t ao = fx_auth_options(&f->clock);
        auth_result_t who = { .name = "alice" };
        store_t *s = NULL;
        meta_t *m = NULL;
        auth_t *a = NULL;
        char uuid[UPLOAD_UUID_LEN + 1], *mf = NULL, *name = NULL, *secret = NULL;
        digest_t img1, img2, art, d;
        char empty_cfg[] = "{}";

        assert_int_equal(auth_open(f->src_dir, &ao, &a), 0);
        assert_int_equal(auth_bootstrap(a, "admin-password", NULL), 1);
        assert_int_equal(auth_user_add(a, "alice", "alice-password", false), 0);
        assert_int_equal(auth_user_add(a, "bob", "bob-password", true), 0);
        assert_int_equal(auth_project_create(a, "lib", true), 0);
        assert_int_equal(auth_project_create(a, "team", false), 0);
        assert_int_equal(auth_member_add(a, "team", "alice", AUTH_ROLE_DEVELOPER), 0);
        assert_int_equal(auth_member_add(a, "lib", "bob", AUTH_ROLE_ADMIN), 0);
        assert_int_equal(auth_token_create(a, "team", true, 0, &f->robot, &f->robot_secret), 0);
        assert_int_equal(auth_token_create(a, "lib", false, f->clock.now + 86400, &name, &secret), 0);
        free(name);
        free(secret);
        for (int i = 0; i < N_AUDIT; i++)
                assert_int_equal(auth_audit(a, i % 3 ? &who : NULL, i % 2 ? "192.0.2.7" : NULL,
                                            i % 5 ? "pull" : "push", i % 7 ? "team/app" : NULL,
                                            i % 11 ? NULL : "detail"), 0);
        assert_int_equal(auth_audit_flush(a), 0);
        {
                /* a management API session (step 8) */
                char sid[AUTH_SESSION_ID_LEN + 1];
                assert_int_equal(auth_session_create(a, "alice", 0, sid, NULL), 0);
        }

        assert_int_equal(fx_store_open(f->src_dir, NULL, NULL, &s), 0);
        assert_int_equal(meta_open_thread(auth_db(a), &m), 0);
        /* webhooks (one with a sealed secret): the pushes below queue their events */
        {
                static const uint8_t sealed[] = { 1, 0, 2, 3, 0 };
                db_conn_t *c = NULL;

                assert_int_equal(db_conn_get(auth_db(a), &c), 0);
                assert_int_equal(webhook_add(c, "team", "https://ci.example/hook", WEBHOOK_PUSH | WEBHOOK_DELETE,
                                             sealed, sizeof(sealed), f->clock.now, NULL), 0);
                assert_int_equal(webhook_add(c, WEBHOOK_GLOBAL, "http://192.0.2.1/all", WEBHOOK_ALL, NULL, 0,
                                             f->clock.now, NULL), 0);
                db_conn_put(auth_db(a), c);
        }
        push_image(s, m, "team/app", "one", "v1", &img1);
        push_image(s, m, "team/app", "two", "v2", &img2);
        push_image(s, m, "lib/base", "three", "latest", NULL);
        /* an index of the two images */
        assert_true(asprintf(&mf,
                             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":["
                             "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":1,"
                             "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
                             "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":1,"
                             "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}}]}",
                             img1.str, img2.str) > 0);
        put_manifest(s, m, "team/app", mf, MT_OCI_INDEX, "multi", NULL);
        free(mf);
        /* a referrer of image one: subject and artifact type */
        push_blob(s, m, "team/app", empty_cfg, &d);
        assert_true(asprintf(&mf,
                             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                             "\"artifactType\":\"application/vnd.example.sbom\","
                             "\"config\":{\"mediaType\":\"" MT_OCI_EMPTY "\",\"digest\":\"%s\",\"size\":2},"
                             "\"layers\":[{\"mediaType\":\"" MT_OCI_EMPTY "\",\"digest\":\"%s\",\"size\":2}],"
                             "\"subject\":{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":1}}",
                             d.str, d.str, img1.str) > 0);
        put_manifest(s, m, "team/app", mf, MT_OCI_MANIFEST, NULL, &art);
        free(mf);
        /* blob records (no files needed) linked to two repositories */
        for (int i = 0; i < N_BLOBS; i++) {
                char data[32];
                snprintf(data, sizeof(data), "blob %d", i);
                assert_int_equal(digest_buf(DIGEST_SHA256, data, strlen(data), &d), 0);
                assert_int_equal(meta_blob_link(m, "team/bulk", &d, strlen(data)), 0);
                assert_int_equal(meta_blob_link(m, "lib/bulk", &d, strlen(data)), 0);
        }
        /* GC: one run recorded (finished, with counts), one that never finished, and
         * an unreferenced blob and a link marked by the run */
        {
                meta_gc_run_t run = { .finished = f->clock.now + 5, .result = "ok", .blobs = 3, .bytes = 300,
                                      .manifests = 1, .links = 2, .orphans = 1, .orphan_bytes = 9, .uploads = 1 };
                int64_t id2;

                assert_int_equal(meta_gc_run_start(m, f->clock.now, "test", false, &run.id), 0);
                assert_int_equal(meta_gc_run_end(m, &run), 0);
                assert_int_equal(meta_gc_run_start(m, f->clock.now + 10, "test", true, &id2), 0);
                assert_int_equal(digest_buf(DIGEST_SHA256, "loose", 5, &d), 0);
                assert_int_equal(meta_blob_link(m, "team/loose", &d, 5), 0);
                assert_int_equal(meta_gc_links(m, f->clock.now, 0, NULL, &(uint64_t){ 0 }), 0);
        }
        /* an upload in progress */
        assert_int_equal(store_upload_create(s, DIGEST_SHA256, uuid), 0);
        assert_int_equal(meta_upload_add(m, uuid, "team/app"), 0);
        /* a chunked upload on an object store (its state row, step 9), held by a
         * request and with its hash state */
        {
                meta_upsession_t row = { .size = 7, .upload_id = "id-1", .parts = "1 \"e1\"\n", .tail_gen = 2,
                                         .tail_size = 7, .hash = "00ff" };
                char uuid2[UPLOAD_UUID_LEN + 1];
                meta_upsession_t held = { 0 };

                assert_int_equal(store_upload_create(s, DIGEST_SHA256, uuid2), 0);
                assert_int_equal(meta_upsession_add(m, uuid2, "team/app", DIGEST_SHA256), 0);
                (void) snprintf(row.uuid, sizeof(row.uuid), "%s", uuid2);
                assert_int_equal(meta_upsession_take(m, uuid2, "holder", 100, 200, &held), 1);
                meta_upsession_clear(&held);
                assert_int_equal(meta_upsession_save(m, &row, "holder", 150, 250), 0);
        }
        /* deliveries: one attempted (a log row), one held by a sender (a lease) */
        {
                webhook_outcome_t o = { .result = WEBHOOK_FAILURE, .status = 503, .latency_ms = 5,
                                        .error = "HTTP 503", .next_attempt = 1 };
                int64_t now = (int64_t) time(NULL) + 60;
                webhook_delivery_t dl = { 0 };
                db_conn_t *c = NULL;

                assert_int_equal(db_conn_get(auth_db(a), &c), 0);
                assert_int_equal(webhook_claim(c, now, now + 30, &dl), 1);
                assert_int_equal(webhook_record(c, &dl, now, &o), 1);
                webhook_delivery_done(&dl);
                assert_int_equal(webhook_claim(c, now, now + 30, &dl), 1);
                webhook_delivery_done(&dl);
                db_conn_put(auth_db(a), c);
        }
        /* a proxy project (its password sealed) and a cached tag's revalidation time */
        {
                static uint8_t sealed[] = { 1, 9, 8, 7, 0 };
                proxycache_conf_t pc = { .project = (char *) "hub", .url = (char *) "https://registry-1.docker.io",
                                         .username = (char *) "u", .password = sealed, .password_len = sizeof(sealed),
                                         .ttl = 300, .mirror_of = (char *) "docker.io", .docker_mirror = true };
                db_conn_t *c = NULL;

                assert_int_equal(auth_project_create(a, "hub", true), 0);
                assert_int_equal(db_conn_get(auth_db(a), &c), 0);
                assert_int_equal(proxycache_add(c, &pc, f->clock.now), 0);
                assert_int_equal(proxycache_tag_mark(c, "hub/library/alpine", "3", img1.str, f->clock.now), 0);
                db_conn_put(auth_db(a), c);
        }
        /* quotas: a project's own, one of none, the default (the usage figures
         * come with the links and manifests above) */
        assert_int_equal(usage_quota_set(m, "team", 10ULL << 30), 0);
        assert_int_equal(usage_quota_set(m, "lib", USAGE_UNLIMITED), 0);
        assert_int_equal(usage_default_set(m, 5ULL << 30), 0);
        /* retention and immutability: pulls of a manifest, an immutable pattern, a
         * policy with two rules, a recorded run */
        {
                meta_keep_rule_t rules[] = { { .kind = META_KEEP_LAST_PUSHED, .tags = "*", .repos = "*", .n = 3 },
                                             { .kind = META_KEEP_ALWAYS, .tags = "v*", .repos = "team/*" } };
                meta_retention_policy_t pol = { .project = "team", .untagged_after = 86400, .rules = rules,
                                                .n_rules = 2 };
                meta_retention_options_t ro = { .project = "lib", .now = f->clock.now, .who = "test" };
                meta_retention_result_t rres;
                meta_pull_t pull = { .repo = "team/app", .digest = img1, .count = 3, .last = f->clock.now };

                assert_int_equal(meta_pulls_add(m, &pull, 1), 0);
                assert_int_equal(meta_immutable_add(m, "team", "v*"), 1);
                assert_int_equal(meta_retention_set(m, &pol), 0);
                pol = (meta_retention_policy_t){ .project = "lib", .untagged_after = -1 };
                assert_int_equal(meta_retention_set(m, &pol), 0);
                assert_int_equal(meta_retention_run(m, &ro, &rres), 0);
        }

        meta_free(m);
        store_free(s);
        auth_free(a);
}

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));

        if (!f || fx_tmpdir(f->dir, sizeof(f->dir), "dbcopy") < 0)
                return -1;
        if (fx_path(f->src_dir, sizeof(f->src_dir), f->dir, "src") < 0 ||
            fx_path(f->src, sizeof(f->src), f->src_dir, "berth.db") < 0 ||
            fx_path(f->dst_dir, sizeof(f->dst_dir), f->dir, "dst") < 0 ||
            fx_path(f->dst, sizeof(f->dst), f->dst_dir, "berth.db") < 0)
                return -1;
        if (file_mkdir_p(f->dst_dir, 0700) < 0)
                return -1;
        f->clock.now = 1700000000;
        *state = f;
        return 0;
}

/* setup, and the source filled */
static int setup_filled(void **state) {
        fixture_t *f;

        if (setup(state) < 0)
                return -1;
        f = *state;
        fill(f);
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;

        fx_rmtree(f->dir);
        free(f->robot);
        free(f->robot_secret);
        free(f);
        return 0;
}

/* ---- comparing two SQLite files, independently of the copy's own table list ---- */

/* The tables of a SQLite file, by name, as one string "a b c ". */
static void sqlite_tables(sqlite3 *db, char *buf, size_t size) {
        sqlite3_stmt *st = NULL;
        size_t n = 0;

        buf[0] = '\0';
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'"
                                                " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
                                            -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
                int k = snprintf(buf + n, size - n, "%s ", (const char *) sqlite3_column_text(st, 0));
                assert_true(k > 0 && (size_t) k < size - n);
                n += (size_t) k;
        }
        sqlite3_finalize(st);
}

/* Every row of table, every column (SELECT *), ordered by all its columns, equal
 * in both files. Returns the number of rows. */
static int64_t sqlite_table_equal(sqlite3 *a, sqlite3 *b, const char *table) {
        sqlite3_stmt *sa = NULL, *sb = NULL;
        char sql[512];
        int64_t rows = 0;
        int ncol, n = 0, ra, rb;

        /* the column count first, to order by every column */
        snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\" LIMIT 0", table);
        assert_int_equal(sqlite3_prepare_v2(a, sql, -1, &sa, NULL), SQLITE_OK);
        ncol = sqlite3_column_count(sa);
        sqlite3_finalize(sa);
        n = snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\" ORDER BY ", table);
        for (int i = 1; i <= ncol; i++)
                n += snprintf(sql + n, sizeof(sql) - (size_t) n, "%s%d", i > 1 ? ", " : "", i);
        assert_true((size_t) n < sizeof(sql));
        assert_int_equal(sqlite3_prepare_v2(a, sql, -1, &sa, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(b, sql, -1, &sb, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_column_count(sb), ncol);
        for (;;) {
                ra = sqlite3_step(sa);
                rb = sqlite3_step(sb);
                if (ra != rb)
                        fail_msg("table %s: row %lld is in one database only", table, (long long) rows);
                if (ra != SQLITE_ROW)
                        break;
                for (int c = 0; c < ncol; c++) {
                        int ta = sqlite3_column_type(sa, c), tb = sqlite3_column_type(sb, c);
                        const char *col = sqlite3_column_name(sa, c);

                        if (ta != tb)
                                fail_msg("table %s row %lld column %s: type %d vs %d", table, (long long) rows,
                                         col, ta, tb);
                        if (ta == SQLITE_INTEGER && sqlite3_column_int64(sa, c) != sqlite3_column_int64(sb, c))
                                fail_msg("table %s row %lld column %s: %lld vs %lld", table, (long long) rows,
                                         col, (long long) sqlite3_column_int64(sa, c),
                                         (long long) sqlite3_column_int64(sb, c));
                        if (ta == SQLITE_TEXT || ta == SQLITE_BLOB) {
                                const void *pa = sqlite3_column_blob(sa, c), *pb = sqlite3_column_blob(sb, c);
                                int la = sqlite3_column_bytes(sa, c), lb = sqlite3_column_bytes(sb, c);
                                if (la != lb || (la > 0 && memcmp(pa, pb, (size_t) la) != 0))
                                        fail_msg("table %s row %lld column %s differs", table, (long long) rows,
                                                 col);
                        }
                }
                rows++;
        }
        assert_int_equal(ra, SQLITE_DONE);
        sqlite3_finalize(sa);
        sqlite3_finalize(sb);
        return rows;
}

/* The two files hold the same tables with the same rows; with all_filled, every
 * table has rows (so a table the fill leaves empty cannot pass unseen). */
static void sqlite_files_equal(const char *pa, const char *pb, bool all_filled) {
        char ta[1024], tb[1024], *save = NULL;
        sqlite3 *a = NULL, *b = NULL;

        assert_int_equal(sqlite3_open_v2(pa, &a, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_open_v2(pb, &b, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        sqlite_tables(a, ta, sizeof(ta));
        sqlite_tables(b, tb, sizeof(tb));
        assert_string_equal(ta, tb);
        for (char *t = strtok_r(ta, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
                int64_t rows = sqlite_table_equal(a, b, t);
                if (all_filled && rows == 0)
                        fail_msg("table %s has no rows: fill() must put some there", t);
        }
        sqlite3_close(a);
        sqlite3_close(b);
}

static void sqlite_exec(const char *path, const char *sql) {
        sqlite3 *db = NULL;

        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
}

/* ---- the copy ---- */

static int copy(const char *from, const char *to, const db_options_t *to_opt, dbcopy_result_t *res) {
        db_t *src = NULL, *dst = NULL;
        int r;

        assert_int_equal(db_open(from, &src), 0);
        assert_int_equal(db_open_opts(to, to_opt, &dst), 0);
        r = dbcopy_run(src, dst, res);
        db_free(src);
        db_free(dst);
        return r;
}

static int64_t count_of(const dbcopy_result_t *res, const char *table) {
        for (size_t i = 0; i < res->n; i++)
                if (strcmp(res->counts[i].table, table) == 0)
                        return res->counts[i].target;
        fail_msg("no count for %s", table);
        return -1;
}

static void expect_counts_match(const dbcopy_result_t *res) {
        size_t n = 0;

        dbcopy_tables(&n);
        assert_int_equal(res->n, n);
        for (size_t i = 0; i < res->n; i++) {
                assert_true(res->counts[i].source > 0);
                assert_int_equal(res->counts[i].source, res->counts[i].target);
        }
        /* tables over a page: keys of one and of two columns */
        assert_true(count_of(res, "repo_blobs") > 2 * N_BLOBS);
        assert_true(count_of(res, "auth_audit") >= N_AUDIT);
        assert_true(N_AUDIT > 2 * DBCOPY_PAGE && 2 * N_BLOBS > DBCOPY_PAGE);
}

/* The copied database goes on where the source left off: a new repository and a
 * new audit row get keys past the copied ones (PostgreSQL: the identity sequences
 * were moved by db_sync_keys). */
static void keys_continue(db_t *db) {
        static const char max_repo[] = "SELECT max(id) FROM repositories";
        static const char audit_row[] = "INSERT INTO auth_audit(ts, \"user\", action) VALUES (1, 'x', 'push')"
                                        " RETURNING id";
        static const char max_audit[] = "SELECT max(id) FROM auth_audit";
        meta_t *m = NULL;
        db_conn_t *c = NULL;
        db_stmt_t *st = NULL;
        int64_t before, before_audit;
        digest_t d;

        assert_int_equal(db_conn_get(db, &c), 0);
        assert_int_equal(db_stmt(c, max_repo, &st), 0);
        assert_int_equal(db_step(st), 1);
        before = db_col_int(st, 0);
        db_stmt_reset(st);
        assert_int_equal(db_stmt(c, max_audit, &st), 0);
        assert_int_equal(db_step(st), 1);
        before_audit = db_col_int(st, 0);
        db_stmt_reset(st);
        db_conn_put(db, c);
        assert_true(before > 0);
        assert_true(before_audit >= N_AUDIT);

        assert_int_equal(meta_open_thread(db, &m), 0);
        assert_int_equal(digest_buf(DIGEST_SHA256, "new", 3, &d), 0);
        assert_int_equal(meta_blob_link(m, "brand/new", &d, 3), 0);
        meta_free(m);

        assert_int_equal(db_conn_get(db, &c), 0);
        assert_int_equal(db_stmt(c, max_repo, &st), 0);
        assert_int_equal(db_step(st), 1);
        assert_true(db_col_int(st, 0) > before);
        db_stmt_reset(st);
        assert_int_equal(db_stmt(c, audit_row, &st), 0);
        assert_int_equal(db_step(st), 1);
        assert_true(db_col_int(st, 0) > before_audit);
        db_stmt_reset(st);
        /* webhooks: keys made by the writer, past the copied ones */
        {
                int64_t id = 0;
                assert_int_equal(webhook_add(c, "brand", "http://192.0.2.9/", WEBHOOK_PUSH, NULL, 0, 1, &id), 0);
                assert_int_equal(id, 3);
        }
        db_conn_put(db, c);
        /* and a push queues past the copied deliveries */
        assert_int_equal(meta_open_thread(db, &m), 0);
        {
                meta_manifest_t mf = { .repo = "brand/new", .digest = d, .size = 3, .media_type = MT_OCI_MANIFEST };
                assert_int_equal(meta_manifest_put(m, &mf, NULL, 0, NULL), 0);
        }
        meta_free(m);
}

static void test_copy_sqlite_to_sqlite_is_row_for_row_equal(void **state) {
        fixture_t *f = *state;
        dbcopy_result_t res;

        assert_int_equal(copy(f->src, f->dst, NULL, &res), 0);
        assert_true(res.committed);
        expect_counts_match(&res);
        sqlite_files_equal(f->src, f->dst, true);
}

/* The copy works as the installation: the same passwords and robot secrets (the
 * install key came along), the same tags, and keys that go on. */
static void test_copy_serves_as_the_source_did(void **state) {
        fixture_t *f = *state;
        auth_options_t ao = fx_auth_options(&f->clock);
        meta_manifest_info_t info;
        auth_result_t who;
        dbcopy_result_t res;
        char hdr[1024];
        auth_t *a = NULL;
        meta_t *m = NULL;

        assert_int_equal(copy(f->src, f->dst, NULL, &res), 0);
        assert_int_equal(auth_open(f->dst_dir, &ao, &a), 0);
        assert_int_equal(auth_bootstrap(a, "other", NULL), 0); /* already bootstrapped */
        assert_int_equal(auth_check(a, basic(hdr, sizeof(hdr), "alice", "alice-password"), "192.0.2.1", "team/app",
                                    AUTH_PUSH, &who), 0);
        assert_int_equal(auth_check(a, basic(hdr, sizeof(hdr), f->robot, f->robot_secret), "192.0.2.1",
                                    "team/app", AUTH_PUSH, &who), 0);
        assert_true(who.robot);
        assert_int_equal(auth_check(a, basic(hdr, sizeof(hdr), "alice", "wrong"), "192.0.2.1", "team/app",
                                    AUTH_PULL, &who), BERTH_EAUTH);
        assert_int_equal(meta_open_thread(auth_db(a), &m), 0);
        assert_int_equal(meta_manifest_get(m, "team/app", "multi", &info), 1);
        assert_string_equal(info.media_type, MT_OCI_INDEX);
        meta_free(m);
        keys_continue(auth_db(a));
        auth_free(a);
}

static void test_nonempty_target_is_refused_and_left_alone(void **state) {
        fixture_t *f = *state;
        auth_options_t ao = fx_auth_options(&f->clock);
        dbcopy_result_t res;
        const char *table = NULL;
        int64_t rows = 0;
        auth_t *a = NULL;
        db_t *db = NULL;

        /* a target with one user and nothing else */
        assert_int_equal(auth_open(f->dst_dir, &ao, &a), 0);
        assert_int_equal(auth_user_add(a, "carol", "pw", false), 0);
        auth_free(a);
        assert_int_equal(copy(f->src, f->dst, NULL, &res), -ENOTEMPTY);
        assert_false(res.committed);
        assert_string_equal(res.used_table, "auth_users");
        assert_int_equal(res.used_rows, 1);
        assert_int_equal(db_open(f->dst, &db), 0);
        assert_int_equal(dbcopy_empty(db, &table, &rows), 0);
        assert_string_equal(table, "auth_users");
        db_free(db);

        /* a copied target: a second copy is refused, the first stays as it was */
        fx_rmtree(f->dst_dir);
        assert_int_equal(file_mkdir_p(f->dst_dir, 0700), 0);
        assert_int_equal(copy(f->src, f->dst, NULL, &res), 0);
        assert_int_equal(copy(f->src, f->dst, NULL, &res), -ENOTEMPTY);
        assert_string_equal(res.used_table, "repositories");
        assert_int_equal(res.n, 0);
        sqlite_files_equal(f->src, f->dst, true);
}

/* A database just made holds the install key row its schema creation writes: that
 * is empty. A source with nothing in it copies as nothing. */
static void test_fresh_database_is_empty(void **state) {
        fixture_t *f = *state;
        dbcopy_result_t res;
        db_t *db = NULL;

        assert_int_equal(db_open(f->dst, &db), 0);
        assert_int_equal(dbcopy_empty(db, NULL, NULL), 1);
        db_free(db);
        assert_int_equal(file_mkdir_p(f->src_dir, 0700), 0);
        assert_int_equal(copy(f->dst, f->src, NULL, &res), 0);
        assert_int_equal(res.rows, 1); /* auth_state: the source's key replaced the target's */
        sqlite_files_equal(f->dst, f->src, false);
}

static void test_other_schema_version_is_refused(void **state) {
        fixture_t *f = *state;
        dbcopy_result_t res;
        db_t *src = NULL, *dst = NULL;
        char sql[64];

        assert_int_equal(db_open(f->src, &src), 0);
        assert_int_equal(db_open(f->dst, &dst), 0);
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", db_schema_latest() + 1);
        sqlite_exec(f->dst, sql); /* as if a newer berth had made it */
        assert_int_equal(dbcopy_run(src, dst, &res), BERTH_EUNSUPPORTED);
        assert_int_equal(res.source_version, db_schema_latest());
        assert_int_equal(res.target_version, db_schema_latest() + 1);
        assert_int_equal(dbcopy_empty(dst, NULL, NULL), 1);
        db_free(src);
        db_free(dst);
}

/* A target that loses rows (a trigger here) fails the count check before the
 * commit: nothing is written. */
static void test_count_mismatch_writes_nothing(void **state) {
        fixture_t *f = *state;
        dbcopy_result_t res;
        db_t *db = NULL;

        assert_int_equal(db_open(f->dst, &db), 0);
        db_free(db);
        /* a table nothing refers to (a lost uploads row would break upload_sessions'
         * reference first) */
        sqlite_exec(f->dst, "CREATE TRIGGER lose_sessions AFTER INSERT ON upload_sessions"
                            " BEGIN DELETE FROM upload_sessions WHERE uuid = NEW.uuid; END");
        assert_int_equal(copy(f->src, f->dst, NULL, &res), -EIO);
        assert_false(res.committed);
        assert_int_equal(count_of(&res, "upload_sessions"), 0);
        for (size_t i = 0; i < res.n; i++)
                if (strcmp(res.counts[i].table, "upload_sessions") == 0)
                        assert_int_equal(res.counts[i].source, 1);
        assert_int_equal(db_open(f->dst, &db), 0);
        assert_int_equal(dbcopy_empty(db, NULL, NULL), 1);
        db_free(db);
}

/* ---- the guard: the copy knows every table and column of the schema ---- */

static const char *const TYPE_NAMES[] = { [DBCOPY_INT] = "INTEGER", [DBCOPY_TEXT] = "TEXT",
                                          [DBCOPY_BLOB] = "BLOB" };

static void test_copy_knows_every_table_and_column(void **state) {
        static const char tables_sql[] = "SELECT name FROM sqlite_master WHERE type = 'table'"
                                         " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name";
        static const char cols_sql[] = "SELECT name, type, pk FROM pragma_table_info(?1) ORDER BY cid";
        fixture_t *f = *state;
        db_t *db = NULL;
        db_conn_t *c = NULL;
        db_stmt_t *st = NULL;
        size_t n_spec = 0, n_schema = 0;
        const dbcopy_table_t *spec = dbcopy_tables(&n_spec);
        int r;

        assert_int_equal(db_open(f->dst, &db), 0);
        assert_int_equal(db_conn_get(db, &c), 0);
        assert_int_equal(db_stmt(c, tables_sql, &st), 0);
        while ((r = db_step(st)) == 1) {
                const char *name = db_col_text(st, 0);
                if (!dbcopy_table(name))
                        fail_msg("table %s is in the schema but not in storage/dbcopy.c: add it to TABLES, "
                                 "in foreign-key order", name);
                n_schema++;
        }
        assert_int_equal(r, 0);
        db_stmt_reset(st);
        assert_int_equal(n_schema, n_spec);

        for (size_t i = 0; i < n_spec; i++) {
                const dbcopy_table_t *t = &spec[i];
                int n = 0, n_pk = 0;

                assert_ptr_equal(dbcopy_table(t->name), t);
                assert_int_equal(db_stmt(c, cols_sql, &st), 0);
                assert_int_equal(db_bind_text(st, 1, t->name), 0);
                while ((r = db_step(st)) == 1) {
                        const char *col = db_col_text(st, 0), *type = db_col_text(st, 1);
                        int64_t pk = db_col_int(st, 2);
                        int k;

                        for (k = 0; k < t->n_cols; k++) {
                                const char *sc = t->cols[k].name;
                                size_t len = strlen(col);
                                /* the spec writes `user` quoted */
                                if (strcmp(sc, col) == 0 ||
                                    (sc[0] == '"' && strncmp(sc + 1, col, len) == 0 && strcmp(sc + 1 + len, "\"") == 0))
                                        break;
                        }
                        if (k == t->n_cols)
                                fail_msg("column %s.%s is in the schema but not in storage/dbcopy.c", t->name, col);
                        if (strcasecmp(type, TYPE_NAMES[t->cols[k].type]) != 0)
                                fail_msg("column %s.%s is %s, storage/dbcopy.c copies it as %s", t->name, col, type,
                                         TYPE_NAMES[t->cols[k].type]);
                        if (pk > 0) {
                                /* the key: the first n_key columns, in the key's order */
                                if (pk - 1 != k)
                                        fail_msg("%s.%s is key column %lld, storage/dbcopy.c has it at %d", t->name,
                                                 col, (long long) pk, k + 1);
                                n_pk++;
                        }
                        n++;
                }
                assert_int_equal(r, 0);
                db_stmt_reset(st);
                if (n != t->n_cols)
                        fail_msg("table %s: %d columns in the schema, %d in storage/dbcopy.c", t->name, n, t->n_cols);
                if (n_pk != t->n_key)
                        fail_msg("table %s: %d key columns in the schema, %d in storage/dbcopy.c", t->name, n_pk,
                                 t->n_key);
        }
        db_conn_put(db, c);
        db_free(db);
}

/* ---- PostgreSQL (BERTH_TEST_PG_URL) ---- */

/* A fresh PostgreSQL database to copy into (fixture.h: BERTH_TEST_ENGINE=pg and
 * the run's server), its URI in url; 0 when the run has none (the case skips). The
 * password reaches libpq through PGPASSWORD (fx_pg_env). */
static int pg_target(const fixture_t *f, char *url, size_t size) {
        if (!fx_pg())
                return 0;
        assert_int_equal(fx_db_target(url, size, f->dst_dir, "pg.db"), 0);
        return 1;
}

/* SQLite -> PostgreSQL -> a new SQLite file: equal to the first, row for row; a
 * second copy into the PostgreSQL database is refused; its keys go on. */
static void test_copy_through_postgresql(void **state) {
        fixture_t *f = *state;
        char url[512], back[400];
        dbcopy_result_t res;
        db_options_t opt = {};
        db_t *pg = NULL, *dst = NULL;

        if (!pg_target(f, url, sizeof(url)))
                skip();
        assert_int_equal(copy(f->src, url, &opt, &res), 0);
        expect_counts_match(&res);
        assert_int_equal(copy(f->src, url, &opt, &res), -ENOTEMPTY);

        snprintf(back, sizeof(back), "%s/back.db", f->dst_dir);
        assert_int_equal(db_open_opts(url, &opt, &pg), 0);
        assert_int_equal(db_open(back, &dst), 0);
        assert_int_equal(dbcopy_run(pg, dst, &res), 0);
        expect_counts_match(&res);
        db_free(dst);
        sqlite_files_equal(f->src, back, true);
        keys_continue(pg);
        db_free(pg);
        fx_db_drop(url);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_filled, teardown)
#define T0(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_copy_sqlite_to_sqlite_is_row_for_row_equal),
                T(test_copy_serves_as_the_source_did),
                T(test_nonempty_target_is_refused_and_left_alone),
                T0(test_fresh_database_is_empty),
                T(test_other_schema_version_is_refused),
                T(test_count_mismatch_writes_nothing),
                T0(test_copy_knows_every_table_and_column),
                T(test_copy_through_postgresql),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
