/* tests/unit/test-meta-faults.c: the metadata layer when the database refuses a
 * statement in the middle of a write transaction (SQLite). The refusal is real: a
 * trigger added to the schema through a second connection raises an error (or drops
 * the row) when the statement runs. Checks that every write is all or nothing: what
 * the transaction did before the refused statement is rolled back (no repository,
 * blob, manifest or tag row left half-made), the caller gets an error, the events it
 * would have queued are not counted, and the same call succeeds once the trigger is
 * gone. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sqlite3.h>
#include "common/digest.h"
#include "common/err.h"
#include "storage/meta.h"
#include "fixture.h"

#define MT_IMAGE "application/vnd.oci.image.manifest.v1+json"

typedef struct {
        char dir[256];
        char path[300];
        meta_t *m;
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));

        if (!f || fx_tmpdir(f->dir, sizeof(f->dir), "meta-faults") < 0 ||
            fx_path(f->path, sizeof(f->path), f->dir, "meta.db") < 0 || meta_open(f->path, &f->m) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;

        f->m = meta_free(f->m);
        fx_rmtree(f->dir);
        free(f);
        return 0;
}

/* Run sql on the database through a connection of its own. */
static void schema(fixture_t *f, const char *sql) {
        sqlite3 *db = NULL;
        char *err = NULL;

        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        sqlite3_busy_timeout(db, 5000);
        if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
                fail_msg("%s: %s", sql, err ? err : "?");
        sqlite3_free(err);
        sqlite3_close(db);
}

/* A trigger named name refusing op (INSERT, DELETE, UPDATE) on table. */
static void refuse(fixture_t *f, const char *name, const char *op, const char *table) {
        char sql[300];
        snprintf(sql, sizeof(sql), "CREATE TRIGGER %s BEFORE %s ON %s BEGIN SELECT RAISE(ABORT, 'refused'); END",
                 name, op, table);
        schema(f, sql);
}

static void allow(fixture_t *f, const char *name) {
        char sql[100];
        snprintf(sql, sizeof(sql), "DROP TRIGGER %s", name);
        schema(f, sql);
}

static digest_t dg(const char *content) {
        digest_t d;
        assert_int_equal(digest_buf(DIGEST_SHA256, content, strlen(content), &d), 0);
        return d;
}

/* An image manifest in repo naming the blob "config" (linked first). */
static meta_manifest_t image(fixture_t *f, const char *repo, meta_ref_t *ref, meta_origin_t *origin) {
        digest_t cfg = dg("config");

        assert_int_equal(meta_blob_link(f->m, repo, &cfg, 6), 0);
        *ref = (meta_ref_t) { .digest = cfg, .is_manifest = false };
        return (meta_manifest_t) { .repo = repo, .digest = dg("manifest"), .size = 8, .media_type = MT_IMAGE,
                                   .refs = ref, .n_refs = 1, .origin = origin };
}

/* Linking a blob into a new repository: the link refused, so neither the repository
 * nor the blob row stays. */
static void test_blob_link_all_or_nothing(void **state) {
        fixture_t *f = *state;
        digest_t d = dg("layer");

        refuse(f, "no_links", "INSERT", "repo_blobs");
        assert_true(meta_blob_link(f->m, "new/repo", &d, 5) < 0);
        assert_int_equal(meta_repo_exists(f->m, "new/repo"), 0);
        assert_int_equal(meta_blob_known(f->m, &d), 0);
        assert_int_equal(meta_blob_linked(f->m, "new/repo", &d, NULL), 0);
        allow(f, "no_links");
        assert_int_equal(meta_blob_link(f->m, "new/repo", &d, 5), 0);
        assert_int_equal(meta_blob_linked(f->m, "new/repo", &d, NULL), 1);
}

/* A repository row the database silently drops (RETURNING gives no key): an error,
 * not a link to a repository that is not there. */
static void test_repository_row_dropped(void **state) {
        fixture_t *f = *state;
        digest_t d = dg("layer");

        schema(f, "CREATE TRIGGER drop_repos BEFORE INSERT ON repositories BEGIN SELECT RAISE(IGNORE); END");
        assert_int_equal(meta_blob_link(f->m, "lost/repo", &d, 5), BERTH_EDB);
        assert_int_equal(meta_blob_known(f->m, &d), 0);
        allow(f, "drop_repos");
        assert_int_equal(meta_blob_link(f->m, "lost/repo", &d, 5), 0);
}

/* An unlink refused: the blob stays linked. */
static void test_blob_unlink_refused(void **state) {
        fixture_t *f = *state;
        digest_t d = dg("layer");

        assert_int_equal(meta_blob_link(f->m, "a/b", &d, 5), 0);
        refuse(f, "keep_links", "DELETE", "repo_blobs");
        assert_true(meta_blob_unlink(f->m, "a/b", &d) < 0);
        assert_int_equal(meta_blob_linked(f->m, "a/b", &d, NULL), 1);
        allow(f, "keep_links");
        assert_int_equal(meta_blob_unlink(f->m, "a/b", &d), 1);
        assert_int_equal(meta_blob_linked(f->m, "a/b", &d, NULL), 0);
}

/* A manifest put whose tag, or whose reference row, is refused: no manifest row, no
 * manifest blob row, no tag, and no event counted; then the same put succeeds. */
static void test_manifest_put_all_or_nothing(void **state) {
        fixture_t *f = *state;
        const char *tags[] = { "v1", "latest" };
        meta_origin_t origin = { .queued = 3 };
        meta_manifest_info_t info;
        meta_ref_t ref;
        meta_manifest_t mf = image(f, "app/x", &ref, &origin);

        refuse(f, "no_tags", "INSERT", "tags");
        assert_true(meta_manifest_put(f->m, &mf, tags, 2, NULL) < 0);
        assert_int_equal(origin.queued, 0);
        assert_int_equal(meta_manifest_get(f->m, "app/x", mf.digest.str, &info), 0);
        assert_int_equal(meta_manifest_get(f->m, "app/x", "v1", &info), 0);
        assert_int_equal(meta_blob_known(f->m, &mf.digest), 0);
        allow(f, "no_tags");

        refuse(f, "no_refs", "INSERT", "manifest_refs");
        origin.queued = 3;
        assert_true(meta_manifest_put(f->m, &mf, tags, 2, NULL) < 0);
        assert_int_equal(origin.queued, 0);
        assert_int_equal(meta_manifest_get(f->m, "app/x", mf.digest.str, &info), 0);
        allow(f, "no_refs");

        assert_int_equal(meta_manifest_put(f->m, &mf, tags, 2, NULL), 0);
        assert_int_equal(meta_manifest_get(f->m, "app/x", "latest", &info), 1);
        assert_string_equal(info.digest.str, mf.digest.str);
}

/* Deletes of a tag and of a manifest refused: both still resolve, no event counted. */
static void test_deletes_refused(void **state) {
        fixture_t *f = *state;
        const char *tags[] = { "v1" };
        meta_origin_t origin = { 0 };
        meta_manifest_info_t info;
        meta_ref_t ref;
        meta_manifest_t mf = image(f, "app/y", &ref, NULL);

        assert_int_equal(meta_manifest_put(f->m, &mf, tags, 1, NULL), 0);
        refuse(f, "keep_tags", "DELETE", "tags");
        origin.queued = 2;
        assert_true(meta_tag_delete_from(f->m, "app/y", "v1", &origin) < 0);
        assert_int_equal(origin.queued, 0);
        assert_int_equal(meta_manifest_get(f->m, "app/y", "v1", &info), 1);
        /* deleting the manifest deletes its tags too: refused as a whole */
        origin.queued = 2;
        assert_true(meta_manifest_delete_from(f->m, "app/y", &mf.digest, &origin) < 0);
        assert_int_equal(origin.queued, 0);
        assert_int_equal(meta_manifest_get(f->m, "app/y", mf.digest.str, &info), 1);
        assert_int_equal(meta_manifest_get(f->m, "app/y", "v1", &info), 1);
        allow(f, "keep_tags");
        assert_int_equal(meta_manifest_delete(f->m, "app/y", &mf.digest), 1);
        assert_int_equal(meta_manifest_get(f->m, "app/y", "v1", &info), 0);
}

/* An upload session row refused: the session is unknown, not half-recorded. */
static void test_upload_add_refused(void **state) {
        fixture_t *f = *state;
        const char *uuid = "0b5c1f0e-3f4a-4d6e-9a41-2d4f8c7e6a10";
        char *repo = NULL;

        refuse(f, "no_uploads", "INSERT", "uploads");
        assert_true(meta_upload_add(f->m, uuid, "app/z") < 0);
        assert_int_equal(meta_upload_get(f->m, uuid, &repo), 0);
        allow(f, "no_uploads");
        assert_int_equal(meta_upload_add(f->m, uuid, "app/z"), 0);
        assert_int_equal(meta_upload_get(f->m, uuid, &repo), 1);
        assert_string_equal(repo, "app/z");
        free(repo);
        refuse(f, "keep_uploads", "DELETE", "uploads");
        assert_true(meta_upload_delete(f->m, uuid) < 0);
        assert_int_equal(meta_upload_get(f->m, uuid, &repo), 1);
        free(repo);
}

/* A GC sweep refused at the blob rows: the batch rolls back (the row stays, the
 * file moves it made are undone) and the result is an error; allowed again, the
 * next sweep removes the row. */
typedef struct {
        int gone, undone, done;
        digest_t last;
} sweep_seen_t;

static int seen_gone(void *userdata, const digest_t *d, uint64_t size) {
        sweep_seen_t *s = userdata;

        (void) size;
        s->gone++;
        s->last = *d;
        return 0;
}

static void seen_undo(void *userdata) {
        ((sweep_seen_t *) userdata)->undone++;
}

static void seen_done(void *userdata) {
        ((sweep_seen_t *) userdata)->done++;
}

static void test_gc_all_or_nothing(void **state) {
        fixture_t *f = *state;
        digest_t d = dg("orphan");
        sweep_seen_t seen = { 0 };
        meta_gc_sweep_t ops = { .gone = seen_gone, .undo = seen_undo, .done = seen_done, .userdata = &seen };
        int64_t now = (int64_t) time(NULL);
        uint64_t blobs = 99, bytes = 99;

        assert_int_equal(meta_blob_link(f->m, "gc/a", &d, 6), 0);
        assert_int_equal(meta_blob_unlink(f->m, "gc/a", &d), 1);
        assert_int_equal(meta_gc_blobs_mark(f->m, now, NULL), 0);
        refuse(f, "keep_blobs", "DELETE", "blobs");
        assert_true(meta_gc_blobs_sweep(f->m, now, &ops, NULL, &blobs, &bytes) < 0);
        assert_int_equal(meta_blob_known(f->m, &d), 1);
        assert_int_equal(seen.done, 0);
        assert_true(seen.gone == 0 || seen.undone == 1); /* a move made is undone */
        allow(f, "keep_blobs");
        seen = (sweep_seen_t){ 0 };
        assert_int_equal(meta_gc_blobs_sweep(f->m, now, &ops, NULL, &blobs, &bytes), 0);
        assert_int_equal(blobs, 1);
        assert_int_equal(bytes, 6);
        assert_int_equal(seen.gone, 1);
        assert_string_equal(seen.last.str, d.str);
        assert_int_equal(seen.undone, 0);
        assert_true(seen.done >= 1);
        assert_int_equal(meta_blob_known(f->m, &d), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_blob_link_all_or_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_repository_row_dropped, setup, teardown),
                cmocka_unit_test_setup_teardown(test_blob_unlink_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_manifest_put_all_or_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_deletes_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_upload_add_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gc_all_or_nothing, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
