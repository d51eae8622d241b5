/* tests/unit/test-fsck.c: storage/fsck.c without HTTP, on either engine
 * (BERTH_TEST_ENGINE=pg: tests/unit/engine-pg-units.sh): a corrupt manifest blob
 * takes its manifest and tag out of service and nothing else; a push of the true
 * bytes after a repair is whole again; files without a row within the grace period
 * are left alone; --rate paces the hashing. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "common/digest.h"
#include "common/err.h"
#include "common/manifest.h"
#include "storage/db.h"
#include "storage/fsck.h"
#include "storage/meta.h"
#include "storage/registry.h"
#include "storage/store.h"
#include "fixture.h"

typedef struct {
        char dir[256];
        char db_path[300];
        store_t *s;
        meta_t *m;
        db_t *db;
        fsck_problem_t seen[8];
        char quarantined[8][256]; /* seen[i].quarantined lives only during the callback */
        size_t n_seen;
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));

        if (!f || fx_tmpdir(f->dir, sizeof(f->dir), "fsck") < 0)
                return -1;
        if (fx_db_target(f->db_path, sizeof(f->db_path), f->dir, "berth.db") < 0 ||
            fx_store_open(f->dir, NULL, NULL, &f->s) < 0 || meta_open(f->db_path, &f->m) < 0)
                return -1;
        /* fsck on the metadata's own handle: its changes reach that handle's manifest
         * cache at commit (another handle hears of them when PostgreSQL delivers the
         * notification, a moment later, as another process would) */
        f->db = meta_db(f->m);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;

        f->m = meta_free(f->m); /* and f->db, its handle */
        f->s = store_free(f->s);
        fx_db_drop(f->db_path);
        fx_rmtree(f->dir);
        free(f);
        return 0;
}

static void on_problem(void *userdata, const fsck_problem_t *p) {
        fixture_t *f = userdata;

        assert_true(f->n_seen < 8);
        snprintf(f->quarantined[f->n_seen], sizeof(f->quarantined[0]), "%s", p->quarantined ? p->quarantined : "");
        f->seen[f->n_seen++] = *p;
}

static void run(fixture_t *f, bool repair, uint64_t rate, fsck_result_t *res) {
        fsck_options_t o = { .repair = repair, .rate = rate, .grace = 3600, .problem = on_problem, .userdata = f };

        f->n_seen = 0;
        assert_int_equal(fsck_run(f->s, f->db, &o, res), 0);
}

static void push_blob(fixture_t *f, const char *repo, const char *data, size_t len, digest_t *ret) {
        char uuid[UPLOAD_UUID_LEN + 1];
        upload_t *u;

        assert_int_equal(store_upload_create(f->s, DIGEST_SHA256, uuid), 0);
        assert_int_equal(meta_upload_add(f->m, uuid, repo), 0);
        assert_int_equal(store_upload_acquire(f->s, uuid, &u), 0);
        assert_int_equal(fx_upload_write(u, data, len), 0);
        assert_int_equal(digest_buf(DIGEST_SHA256, data, len, ret), 0);
        assert_int_equal(registry_upload_commit(f->s, f->m, u, repo, ret, NULL), 0);
        store_upload_release(u);
}

static void blob_path(fixture_t *f, const digest_t *d, char *buf, size_t n) {
        const char *hex = digest_hex(d);

        snprintf(buf, n, "%s/blobs/sha256/%.2s/%s", f->dir, hex, hex);
}

/* Flip one byte of the blob's file in place. */
static void corrupt(fixture_t *f, const digest_t *d, off_t at) {
        char path[512], c;
        int fd;

        blob_path(f, d, path, sizeof(path));
        fd = open(path, O_RDWR);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, &c, 1, at), 1);
        c ^= 0x20;
        assert_int_equal(pwrite(fd, &c, 1, at), 1);
        close(fd);
}

/* An image in repo tagged tag: its manifest digest in *ret. */
static void push_image(fixture_t *f, const char *repo, const char *tag, const char *layer, digest_t *ret) {
        const char *tags[] = { tag };
        registry_put_result_t res;
        digest_t c, l;
        char *mf = NULL;

        push_blob(f, repo, "{}", 2, &c);
        push_blob(f, repo, layer, strlen(layer), &l);
        assert_true(asprintf(&mf,
                             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                             "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                             "\"digest\":\"%s\",\"size\":2},"
                             "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
                             "\"digest\":\"%s\",\"size\":%zu}]}",
                             c.str, l.str, strlen(layer)) > 0);
        assert_int_equal(registry_manifest_put(f->s, f->m, repo, mf, strlen(mf), MT_OCI_MANIFEST, NULL, tags, 1, &res),
                         0);
        *ret = res.digest;
        free(mf);
}

/* A manifest whose bytes rot: fsck drops the manifest and its tag (nothing could
 * serve them), quarantines the file, and leaves the other image whole. */
static void test_corrupt_manifest_drops_it_and_its_tag(void **state) {
        fixture_t *f = *state;
        meta_manifest_info_t info;
        fsck_result_t res;
        digest_t a, b;

        push_image(f, "lib/a", "v1", "layer of a", &a);
        push_image(f, "lib/b", "v1", "layer of b", &b);
        run(f, false, 0, &res);
        assert_int_equal(f->n_seen, 0);
        assert_int_equal(res.rows, 5); /* one shared config, two layers, two manifests */

        corrupt(f, &a, 10);
        run(f, false, 0, &res);
        assert_int_equal(f->n_seen, 1);
        assert_int_equal(f->seen[0].kind, FSCK_DIGEST);
        assert_true(digest_equal(&f->seen[0].digest, &a));
        assert_int_equal(meta_manifest_get(f->m, "lib/a", "v1", &info), 1); /* no repair: nothing changed */

        run(f, true, 0, &res);
        assert_int_equal(res.repaired, 1);
        assert_true(f->seen[0].rows_dropped);
        assert_true(f->quarantined[0][0] != '\0');
        assert_int_equal(meta_manifest_get(f->m, "lib/a", "v1", &info), 0);
        assert_int_equal(meta_manifest_get(f->m, "lib/a", a.str, &info), 0);
        assert_int_equal(meta_blob_known(f->m, &a), 0);
        assert_int_equal(store_blob_stat(f->s, &a, NULL), 0);
        assert_int_equal(meta_manifest_get(f->m, "lib/b", "v1", &info), 1);
        assert_true(digest_equal(&info.digest, &b));

        run(f, false, 0, &res);
        assert_int_equal(f->n_seen, 0);
        assert_int_equal(res.rows, 4);
}

/* After a corrupt layer is repaired, a push of its true bytes stores a good file
 * (not taken for a deduplicated copy of the bad one): clean again. */
static void test_push_after_repair_is_whole(void **state) {
        fixture_t *f = *state;
        const char *data = "the layer's true bytes";
        fsck_result_t res;
        digest_t d, again;
        uint64_t size;

        push_blob(f, "lib/a", data, strlen(data), &d);
        corrupt(f, &d, 3);
        run(f, true, 0, &res);
        assert_int_equal(res.problems[FSCK_DIGEST], 1);
        assert_int_equal(res.repaired, 1);
        assert_int_equal(meta_blob_linked(f->m, "lib/a", &d, NULL), 0);

        push_blob(f, "lib/a", data, strlen(data), &again);
        assert_int_equal(meta_blob_linked(f->m, "lib/a", &d, &size), 1);
        assert_int_equal(size, strlen(data));
        run(f, false, 0, &res);
        assert_int_equal(f->n_seen, 0);
        assert_int_equal(res.rows, 1);
}

/* A file without a row is a push between its file and its row while it is young:
 * not a problem, not moved; once older than the grace period, an orphan. */
static void test_young_file_without_row_is_left_alone(void **state) {
        fixture_t *f = *state;
        struct timespec old[2] = { { .tv_sec = 1000000 }, { .tv_sec = 1000000 } };
        char path[512];
        fsck_result_t res;
        digest_t d;

        assert_int_equal(digest_buf(DIGEST_SHA256, "no row", 6, &d), 0);
        assert_int_equal(store_blob_put(f->s, &d, "no row", 6), 0);
        run(f, true, 0, &res);
        assert_int_equal(f->n_seen, 0);
        assert_int_equal(res.recent_orphans, 1);
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 1);

        blob_path(f, &d, path, sizeof(path));
        assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
        run(f, true, 0, &res);
        assert_int_equal(f->n_seen, 1);
        assert_int_equal(f->seen[0].kind, FSCK_ORPHAN);
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 0);
        snprintf(path, sizeof(path), "%s/%s", f->dir, f->quarantined[0]);
        assert_int_equal(access(path, F_OK), 0);
}

/* --rate: 1 MiB hashed at 2 MiB/s takes about half a second, unpaced much less. */
static void test_rate_paces_hashing(void **state) {
        fixture_t *f = *state;
        const size_t len = 1u << 20;
        char *data = malloc(len);
        struct timespec t0, t1;
        fsck_result_t res;
        double secs;
        digest_t d;

        assert_non_null(data);
        for (size_t i = 0; i < len; i++)
                data[i] = (char) (i * 7);
        push_blob(f, "lib/big", data, len, &d);
        free(data);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        run(f, false, 2u << 20, &res);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        secs = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        assert_int_equal(res.hashed_bytes, len);
        assert_true(secs >= 0.45);
        assert_true(secs < 10);
}

int main(void) {
        const struct CMUnitTest t[] = {
                cmocka_unit_test_setup_teardown(test_corrupt_manifest_drops_it_and_its_tag, setup, teardown),
                cmocka_unit_test_setup_teardown(test_push_after_repair_is_whole, setup, teardown),
                cmocka_unit_test_setup_teardown(test_young_file_without_row_is_left_alone, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rate_paces_hashing, setup, teardown),
        };
        return cmocka_run_group_tests(t, NULL, NULL);
}
