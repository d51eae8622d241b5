/* tests/unit/test-registry-store.c: the write protocol of storage/registry.c without
 * HTTP: the file first, the row second; what a crash between them leaves; a
 * refused manifest writes nothing; tags and subjects; offline GC. Each test runs on
 * a fresh data directory, removed at teardown. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "common/digest.h"
#include "common/err.h"
#include "common/manifest.h"
#include "storage/meta.h"
#include "storage/registry.h"
#include "storage/store.h"
#include "fixture.h"

typedef struct {
        char dir[256];
        char db[300];
        store_t *s;
        meta_t *m;
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));

        if (!f || fx_tmpdir(f->dir, sizeof(f->dir), "registry") < 0)
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

/* An upload session holding data, taken. */
static upload_t *upload_with(fixture_t *f, const char *repo, const char *data) {
        char uuid[UPLOAD_UUID_LEN + 1];
        upload_t *u;

        assert_int_equal(store_upload_create(f->s, DIGEST_SHA256, uuid), 0);
        assert_int_equal(meta_upload_add(f->m, uuid, repo), 0);
        assert_int_equal(store_upload_acquire(f->s, uuid, &u), 0);
        assert_int_equal(fx_upload_write(u, data, strlen(data)), 0);
        return u;
}

static void push_blob(fixture_t *f, const char *repo, const char *data, digest_t *ret) {
        upload_t *u = upload_with(f, repo, data);
        uint64_t size = 0;

        assert_int_equal(digest_buf(DIGEST_SHA256, data, strlen(data), ret), 0);
        assert_int_equal(registry_upload_commit(f->s, f->m, u, repo, ret, &size), 0);
        assert_int_equal(size, strlen(data));
        store_upload_release(u);
}

/* An OCI image manifest naming config and layer (and subject when non-NULL). */
static char *image_manifest(const digest_t *config, size_t config_size, const digest_t *layer,
                            size_t layer_size, const digest_t *subject) {
        char *s = NULL, subj[320] = "";

        if (subject)
                snprintf(subj, sizeof(subj),
                         ",\"subject\":{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":10}",
                         subject->str);
        assert_true(asprintf(&s,
                             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                             "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                             "\"digest\":\"%s\",\"size\":%zu},"
                             "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
                             "\"digest\":\"%s\",\"size\":%zu}]%s}",
                             config->str, config_size, layer->str, layer_size, subj) > 0);
        return s;
}

/* Die here, as a crash would: nothing after this point runs. */
static void crash(void) {
        _exit(42);
}

static void expect_crashed(pid_t pid) {
        int st;

        assert_true(pid > 0);
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 42);
}

/* Age the blob file of d so that GC with grace 0 looks at it. */
static void age_blob(fixture_t *f, const digest_t *d) {
        char path[512];
        const char *hex = strchr(d->str, ':') + 1;
        struct timespec ts[2] = { { .tv_sec = 1000000 }, { .tv_sec = 1000000 } };

        snprintf(path, sizeof(path), "%s/blobs/sha256/%.2s/%s", f->dir, hex, hex);
        assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void test_commit_links_blob(void **state) {
        fixture_t *f = *state;
        digest_t d, wrong;
        upload_t *u;
        uint64_t size;

        push_blob(f, "lib/a", "layer bytes", &d);
        assert_int_equal(store_blob_stat(f->s, &d, &size), 1);
        assert_int_equal(meta_blob_linked(f->m, "lib/a", &d, &size), 1);
        assert_int_equal(size, 11);

        /* wrong digest: nothing committed, the session stays as it was */
        u = upload_with(f, "lib/a", "other");
        assert_int_equal(digest_buf(DIGEST_SHA256, "else", 4, &wrong), 0);
        assert_int_equal(registry_upload_commit(f->s, f->m, u, "lib/a", &wrong, NULL), BERTH_EDIGEST);
        assert_int_equal(upload_size(u), 5);
        assert_int_equal(store_blob_stat(f->s, &wrong, NULL), 0);
        assert_int_equal(meta_blob_known(f->m, &wrong), 0);
        store_upload_release(u);
}

/* A crash between the file and the row leaves an orphan file and no row; GC
 * removes the file. */
static void test_commit_crash_leaves_orphan_file(void **state) {
        fixture_t *f = *state;
        registry_gc_result_t gc;
        digest_t d;
        pid_t pid;

        assert_int_equal(digest_buf(DIGEST_SHA256, "crash me", 8, &d), 0);
        pid = fork();
        if (pid == 0) {
                meta_t *m = NULL;
                upload_t *u;
                char uuid[UPLOAD_UUID_LEN + 1];

                /* the child's own connection, as another process would have */
                if (meta_open(f->db, &m) < 0 || store_upload_create(f->s, DIGEST_SHA256, uuid) < 0 ||
                    store_upload_acquire(f->s, uuid, &u) < 0 || fx_upload_write(u, "crash me", 8) < 0)
                        _exit(1);
                registry_test_set_crash_point(crash);
                (void) registry_upload_commit(f->s, m, u, "lib/a", &d, NULL);
                _exit(2);
        }
        expect_crashed(pid);
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 1);
        assert_int_equal(meta_blob_known(f->m, &d), 0);
        assert_int_equal(meta_blob_linked(f->m, "lib/a", &d, NULL), 0);

        /* young: kept (a push may be about to write its row) */
        assert_int_equal(registry_gc(f->s, f->m, 3600, false, &gc), 0);
        assert_int_equal(gc.orphans, 0);
        age_blob(f, &d);
        assert_int_equal(registry_gc(f->s, f->m, 0, true, &gc), 0);
        assert_int_equal(gc.orphans, 1);
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 1);
        assert_int_equal(registry_gc(f->s, f->m, 0, false, &gc), 0);
        assert_int_equal(gc.orphans, 1);
        assert_int_equal(gc.orphan_bytes, 8);
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 0);
}

static void test_manifest_crash_leaves_orphan_file(void **state) {
        fixture_t *f = *state;
        registry_put_result_t res;
        meta_manifest_info_t info;
        digest_t cfg, layer, md;
        char *mf;
        pid_t pid;
        int r;

        push_blob(f, "lib/a", "{}", &cfg);
        push_blob(f, "lib/a", "layer", &layer);
        mf = image_manifest(&cfg, 2, &layer, 5, NULL);
        assert_int_equal(digest_buf(DIGEST_SHA256, mf, strlen(mf), &md), 0);
        pid = fork();
        if (pid == 0) {
                meta_t *m = NULL;
                const char *tags[] = { "v1" };
                if (meta_open(f->db, &m) < 0)
                        _exit(1);
                registry_test_set_crash_point(crash);
                (void) registry_manifest_put(f->s, m, "lib/a", mf, strlen(mf), MT_OCI_MANIFEST, NULL, tags, 1,
                                             &res);
                _exit(2);
        }
        expect_crashed(pid);
        assert_int_equal(store_blob_stat(f->s, &md, NULL), 1);
        assert_int_equal(meta_manifest_get(f->m, "lib/a", md.str, &info), 0);
        assert_int_equal(meta_manifest_get(f->m, "lib/a", "v1", &info), 0);

        /* the client's retry completes */
        {
                const char *tags[] = { "v1" };
                r = registry_manifest_put(f->s, f->m, "lib/a", mf, strlen(mf), MT_OCI_MANIFEST, NULL, tags, 1, &res);
        }
        assert_int_equal(r, 0);
        assert_true(digest_equal(&res.digest, &md));
        assert_int_equal(meta_manifest_get(f->m, "lib/a", "v1", &info), 1);
        free(mf);
}

/* A reference the repository lacks: refused, and neither file nor row is written. */
static void test_manifest_missing_blob_writes_nothing(void **state) {
        fixture_t *f = *state;
        registry_put_result_t res;
        meta_manifest_info_t info;
        digest_t cfg, layer, md;
        const char *tags[] = { "v1" };
        char *mf;

        push_blob(f, "lib/a", "{}", &cfg);
        push_blob(f, "lib/other", "layer", &layer); /* in another repository only */
        mf = image_manifest(&cfg, 2, &layer, 5, NULL);
        assert_int_equal(digest_buf(DIGEST_SHA256, mf, strlen(mf), &md), 0);
        assert_int_equal(registry_manifest_put(f->s, f->m, "lib/a", mf, strlen(mf), MT_OCI_MANIFEST, NULL, tags,
                                               1, &res),
                         BERTH_EMANIFEST_BLOB_UNKNOWN);
        assert_true(digest_equal(&res.missing, &layer));
        assert_int_equal(store_blob_stat(f->s, &md, NULL), 0);
        assert_int_equal(meta_manifest_get(f->m, "lib/a", "v1", &info), 0);
        assert_int_equal(meta_blob_known(f->m, &md), 0);
        free(mf);
}

static void test_manifest_refusals_write_nothing(void **state) {
        fixture_t *f = *state;
        registry_put_result_t res;
        digest_t cfg, layer, md, other;
        char *mf;

        push_blob(f, "lib/a", "{}", &cfg);
        push_blob(f, "lib/a", "layer", &layer);
        mf = image_manifest(&cfg, 2, &layer, 5, NULL);
        assert_int_equal(digest_buf(DIGEST_SHA256, mf, strlen(mf), &md), 0);
        /* the digest in the URL does not match */
        assert_int_equal(digest_buf(DIGEST_SHA256, "x", 1, &other), 0);
        assert_int_equal(registry_manifest_put(f->s, f->m, "lib/a", mf, strlen(mf), MT_OCI_MANIFEST, &other, NULL,
                                               0, &res),
                         BERTH_EDIGEST);
        assert_int_equal(store_blob_stat(f->s, &md, NULL), 0);
        /* not a manifest */
        assert_int_equal(registry_manifest_put(f->s, f->m, "lib/a", "{\"a\":1}", 7, MT_OCI_MANIFEST, NULL, NULL, 0,
                                               &res),
                         BERTH_EMANIFEST);
        assert_non_null(res.detail);
        assert_int_equal(store_blob_stat(f->s, &res.digest, NULL), 0);
        /* by digest it is accepted, and tagged by none */
        assert_int_equal(registry_manifest_put(f->s, f->m, "lib/a", mf, strlen(mf), MT_OCI_MANIFEST, &md, NULL, 0,
                                               &res),
                         0);
        assert_int_equal(store_blob_stat(f->s, &md, NULL), 1);
        free(mf);
}

/* Tags point at the manifest; a manifest with a subject is among its referrers. */
static void test_manifest_tags_and_subject(void **state) {
        fixture_t *f = *state;
        registry_put_result_t res;
        meta_manifest_info_t info;
        meta_referrer_t *refs = NULL;
        size_t n = 0;
        digest_t cfg, layer, img, sig;
        const char *tags[] = { "v1", "latest" };
        char *mf, *mf2;

        push_blob(f, "lib/a", "{}", &cfg);
        push_blob(f, "lib/a", "layer", &layer);
        mf = image_manifest(&cfg, 2, &layer, 5, NULL);
        assert_int_equal(registry_manifest_put(f->s, f->m, "lib/a", mf, strlen(mf), MT_OCI_MANIFEST, NULL, tags, 2,
                                               &res),
                         0);
        assert_false(res.has_subject);
        img = res.digest;
        assert_int_equal(meta_manifest_get(f->m, "lib/a", "v1", &info), 1);
        assert_true(digest_equal(&info.digest, &img));
        assert_int_equal(meta_manifest_get(f->m, "lib/a", "latest", &info), 1);
        assert_true(digest_equal(&info.digest, &img));
        assert_string_equal(info.media_type, MT_OCI_MANIFEST);

        mf2 = image_manifest(&cfg, 2, &layer, 5, &img);
        assert_int_equal(registry_manifest_put(f->s, f->m, "lib/a", mf2, strlen(mf2), MT_OCI_MANIFEST, NULL, NULL,
                                               0, &res),
                         0);
        assert_true(res.has_subject);
        assert_true(digest_equal(&res.subject, &img));
        sig = res.digest;
        assert_int_equal(meta_referrers(f->m, "lib/a", &img, NULL, &refs, &n), 0);
        assert_int_equal(n, 1);
        assert_true(digest_equal(&refs[0].digest, &sig));
        meta_referrers_free(refs, n);
        /* the tag still names the image, not its referrer */
        assert_int_equal(meta_manifest_get(f->m, "lib/a", "latest", &info), 1);
        assert_true(digest_equal(&info.digest, &img));
        free(mf);
        free(mf2);
}

/* A cross-repository mount links only a blob whose file is present. */
static void test_mount_needs_file(void **state) {
        fixture_t *f = *state;
        digest_t d, ghost;

        push_blob(f, "lib/a", "shared", &d);
        assert_int_equal(registry_blob_mount(f->s, f->m, "lib/b", &d, 6), 1);
        assert_int_equal(meta_blob_linked(f->m, "lib/b", &d, NULL), 1);
        assert_int_equal(digest_buf(DIGEST_SHA256, "ghost", 5, &ghost), 0);
        assert_int_equal(registry_blob_mount(f->s, f->m, "lib/b", &ghost, 5), 0);
        assert_int_equal(meta_blob_linked(f->m, "lib/b", &ghost, NULL), 0);
}

/* A full disk (a file size limit) while the manifest's file is written: the push
 * fails with the write's error and leaves neither a row nor a file. */
static void test_manifest_put_disk_full(void **state) {
        fixture_t *f = *state;
        const size_t pad = 100u << 10;
        digest_t config, layer;
        registry_put_result_t res;
        meta_manifest_info_t info;
        struct rlimit old, lim;
        char *m, *big, *note;

        push_blob(f, "lib/a", "{}", &config);
        push_blob(f, "lib/a", "layer", &layer);
        m = image_manifest(&config, 2, &layer, 5, NULL);
        note = malloc(pad + 1);
        assert_non_null(note);
        memset(note, 'n', pad);
        note[pad] = '\0';
        /* the same manifest with a large annotation, past the limit below */
        assert_true(asprintf(&big, "%.*s,\"annotations\":{\"note\":\"%s\"}}", (int) (strlen(m) - 1), m, note) > 0);
        signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
        lim = old;
        lim.rlim_cur = 64u << 10;
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        assert_int_equal(registry_manifest_put(f->s, f->m, "lib/a", big, strlen(big), MT_OCI_MANIFEST, NULL,
                                               (const char *const[]) { "full" }, 1, &res),
                         -EFBIG);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        signal(SIGXFSZ, SIG_DFL);
        assert_int_equal(meta_manifest_get(f->m, "lib/a", "full", &info), 0);
        assert_int_equal(meta_manifest_get(f->m, "lib/a", res.digest.str, &info), 0);
        assert_int_equal(store_blob_stat(f->s, &res.digest, NULL), 0);
        /* room again: the same push succeeds */
        assert_int_equal(registry_manifest_put(f->s, f->m, "lib/a", big, strlen(big), MT_OCI_MANIFEST, NULL,
                                               (const char *const[]) { "full" }, 1, &res),
                         0);
        assert_int_equal(meta_manifest_get(f->m, "lib/a", "full", &info), 1);
        free(m);
        free(big);
        free(note);
}

/* GC removes a blob's row even when its file cannot go (here a directory stands
 * where the file was): counted in file_errors for the next run, nothing fails. */
static void test_gc_counts_files_that_cannot_go(void **state) {
        fixture_t *f = *state;
        registry_gc_result_t gc;
        char path[600];
        const char *hex;
        digest_t d;
        FILE *fp;

        push_blob(f, "lib/a", "unreferenced", &d);
        assert_int_equal(meta_blob_unlink(f->m, "lib/a", &d), 1);
        hex = strchr(d.str, ':') + 1;
        snprintf(path, sizeof(path), "%s/blobs/sha256/%.2s/%s", f->dir, hex, hex);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(mkdir(path, 0700), 0);
        strcat(path, "/inside");
        fp = fopen(path, "w");
        assert_non_null(fp);
        fclose(fp);
        assert_int_equal(registry_gc(f->s, f->m, 0, false, &gc), 0);
        assert_int_equal(gc.blobs, 1);
        assert_int_equal(gc.file_errors, 1);
        assert_int_equal(gc.orphans, 0); /* not a regular file: not a blob to the scan */
        assert_int_equal(meta_blob_known(f->m, &d), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_commit_links_blob, setup, teardown),
                cmocka_unit_test_setup_teardown(test_commit_crash_leaves_orphan_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_manifest_crash_leaves_orphan_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_manifest_missing_blob_writes_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_manifest_refusals_write_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_manifest_tags_and_subject, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mount_needs_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_manifest_put_disk_full, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gc_counts_files_that_cannot_go, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
