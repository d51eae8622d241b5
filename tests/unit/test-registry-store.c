/* tests/unit/test-registry-store.c: the write protocol of storage/registry.c without
 * HTTP: the file first, the row second; what a crash between them leaves; a
 * refused manifest writes nothing; tags and subjects; online GC and its races (a
 * GC run from the hook between a writer's file and its row). Each test runs on
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
#include <time.h>
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


/* ---- online GC: the races ---- */

/* The test's GC, run on a connection of its own (as another process would) from
 * the registry's hook between a writer's file and its row. */
static fixture_t *gc_fx;
static registry_gc_result_t gc_mid;
static int gc_mid_rc;
static bool gc_mid_untagged;

static void gc_in_between(void) {
        meta_t *m2 = NULL;
        registry_gc_options_t o = { .grace = 0, .delete_untagged = gc_mid_untagged, .who = "test" };

        assert_int_equal(meta_open(gc_fx->db, &m2), 0);
        gc_mid_rc = registry_gc_run(gc_fx->s, m2, &o, &gc_mid);
        meta_free(m2);
}

static registry_gc_result_t gc_now(fixture_t *f, bool untagged) {
        registry_gc_options_t o = { .grace = 0, .delete_untagged = untagged, .who = "test" };
        registry_gc_result_t res;

        assert_int_equal(registry_gc_run(f->s, f->m, &o, &res), 0);
        return res;
}

static void assert_blob_file(fixture_t *f, const digest_t *d, const char *data) {
        char path[600], buf[2048] = "";
        const char *hex = strchr(d->str, ':') + 1;
        FILE *fp;
        size_t n;

        snprintf(path, sizeof(path), "%s/blobs/sha256/%.2s/%s", f->dir, hex, hex);
        fp = fopen(path, "r");
        assert_non_null(fp);
        n = fread(buf, 1, sizeof(buf) - 1, fp);
        fclose(fp);
        buf[n] = '\0';
        assert_string_equal(buf, data);
}

/* An OCI index naming the given child manifests. */
static char *index_of(const digest_t *children, size_t n) {
        char *s = NULL, *items = calloc(1, 1);

        for (size_t i = 0; i < n; i++) {
                char *next = NULL;
                assert_true(asprintf(&next, "%s%s{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":10}",
                                     items, i ? "," : "", children[i].str) > 0);
                free(items);
                items = next;
        }
        assert_true(asprintf(&s, "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[%s]}",
                             items) > 0);
        free(items);
        return s;
}

static digest_t put_manifest(fixture_t *f, const char *repo, const char *mf, const char *type, const char *tag) {
        registry_put_result_t res;
        const char *tags[] = { tag };

        assert_int_equal(registry_manifest_put(f->s, f->m, repo, mf, strlen(mf), type, NULL, tags, tag ? 1 : 0, &res),
                         0);
        return res.digest;
}

/* A blob marked unreferenced and then linked again before the sweep: the link
 * clears the mark, so when it is unlinked again the grace period starts over and
 * the sweep keeps row and file (a stale mark would let it go at once). */
static void test_gc_blob_relinked_before_sweep_is_kept(void **state) {
        fixture_t *f = *state;
        registry_gc_options_t o = { .grace = 5, .who = "test" };
        registry_gc_result_t res;
        int64_t now = (int64_t) time(NULL);
        digest_t d;

        push_blob(f, "lib/a", "relinked", &d);
        assert_int_equal(meta_blob_unlink(f->m, "lib/a", &d), 1);
        assert_int_equal(meta_gc_blobs_mark(f->m, now - 10, NULL), 0); /* seen unreferenced 10 s ago */
        /* linked again (a mount; a push of the same bytes alike), then unlinked */
        assert_int_equal(registry_blob_mount(f->s, f->m, "lib/b", &d, 8), 1);
        assert_int_equal(meta_blob_unlink(f->m, "lib/b", &d), 1);
        assert_int_equal(registry_gc_run(f->s, f->m, &o, &res), 0);
        assert_int_equal(res.blobs, 0);
        assert_int_equal(meta_blob_known(f->m, &d), 1);
        assert_blob_file(f, &d, "relinked");
        /* unreferenced for longer than the grace period: it goes */
        assert_int_equal(meta_gc_blobs_mark(f->m, now - 10, NULL), 0); /* already marked at now: unchanged */
        o.grace = 0;
        assert_int_equal(registry_gc_run(f->s, f->m, &o, &res), 0);
        assert_int_equal(res.blobs, 1);
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 0);
}

/* An upload of bytes whose blob a GC deletes between the upload's file and its
 * row: the row's transaction finds the file gone and places it again from the
 * session, so row and file are both there. */
static void test_gc_upload_completing_swept_digest_keeps_row_and_file(void **state) {
        fixture_t *f = *state;
        digest_t d, again;
        upload_t *u;
        uint64_t size = 0;

        push_blob(f, "lib/a", "swept while uploaded", &d);
        assert_int_equal(meta_blob_unlink(f->m, "lib/a", &d), 1); /* unreferenced now */
        u = upload_with(f, "lib/b", "swept while uploaded");
        gc_fx = f;
        registry_test_set_crash_point(gc_in_between);
        assert_int_equal(registry_upload_commit(f->s, f->m, u, "lib/b", &d, &size), 0);
        registry_test_set_crash_point(NULL);
        store_upload_release(u);
        assert_int_equal(gc_mid_rc, 0);
        assert_int_equal(gc_mid.blobs, 1); /* the GC did take the blob (row and file) in between */
        assert_int_equal(meta_blob_linked(f->m, "lib/b", &d, &size), 1);
        assert_int_equal(size, 20);
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 1);
        assert_blob_file(f, &d, "swept while uploaded");
        /* and a second upload whose file and row are not disturbed */
        push_blob(f, "lib/c", "swept while uploaded", &again);
        assert_true(digest_equal(&d, &again));
}

/* A manifest put naming a blob a GC sweeps meanwhile: refused with
 * MANIFEST_BLOB_UNKNOWN, nothing recorded; never a manifest whose blob is gone. */
static void test_gc_manifest_put_racing_sweep(void **state) {
        fixture_t *f = *state;
        registry_put_result_t res;
        meta_manifest_info_t info;
        digest_t cfg, layer;
        const char *tags[] = { "v1" };
        char *mf;
        int r;

        push_blob(f, "lib/a", "{}", &cfg);
        push_blob(f, "lib/a", "layer", &layer); /* linked, no manifest yet: GC (grace 0) takes them */
        mf = image_manifest(&cfg, 2, &layer, 5, NULL);
        gc_fx = f;
        registry_test_set_crash_point(gc_in_between);
        r = registry_manifest_put(f->s, f->m, "lib/a", mf, strlen(mf), MT_OCI_MANIFEST, NULL, tags, 1, &res);
        registry_test_set_crash_point(NULL);
        assert_int_equal(gc_mid_rc, 0);
        assert_int_equal(r, BERTH_EMANIFEST_BLOB_UNKNOWN);
        assert_int_equal(meta_manifest_get(f->m, "lib/a", "v1", &info), 0);
        assert_int_equal(meta_blob_known(f->m, &layer), 0);

        /* pushed again, the manifest goes in; a GC after it keeps every blob */
        push_blob(f, "lib/a", "{}", &cfg);
        push_blob(f, "lib/a", "layer", &layer);
        assert_int_equal(registry_manifest_put(f->s, f->m, "lib/a", mf, strlen(mf), MT_OCI_MANIFEST, NULL, tags, 1,
                                               &res),
                         0);
        (void) gc_now(f, false);
        assert_int_equal(meta_manifest_get(f->m, "lib/a", "v1", &info), 1);
        assert_blob_file(f, &layer, "layer");
        assert_blob_file(f, &cfg, "{}");
        assert_int_equal(store_blob_stat(f->s, &res.digest, NULL), 1);
        free(mf);
}

/* A manifest pushed again after it was deleted, whose own file a GC sweeps
 * between the put's file and its row: placed again in the row's transaction. */
static void test_gc_manifest_file_swept_during_put_is_placed_again(void **state) {
        fixture_t *f = *state;
        registry_put_result_t res;
        meta_manifest_info_t info;
        digest_t cfg, layer, md;
        const char *tags[] = { "v1" };
        char *mf;

        push_blob(f, "lib/a", "{}", &cfg);
        push_blob(f, "lib/a", "layer", &layer);
        mf = image_manifest(&cfg, 2, &layer, 5, NULL);
        assert_int_equal(registry_manifest_put(f->s, f->m, "lib/a", mf, strlen(mf), MT_OCI_MANIFEST, NULL, tags, 1,
                                               &res),
                         0);
        md = res.digest;
        /* the layers kept in a second repository by another manifest; deleted in the first */
        push_blob(f, "lib/b", "{}", &cfg);
        push_blob(f, "lib/b", "layer", &layer);
        {
                char *keep = image_manifest(&cfg, 2, &layer, 6, NULL);
                (void) put_manifest(f, "lib/b", keep, MT_OCI_MANIFEST, "keep");
                free(keep);
        }
        assert_int_equal(meta_manifest_delete(f->m, "lib/a", &md), 1);
        gc_fx = f;
        registry_test_set_crash_point(gc_in_between);
        assert_int_equal(registry_manifest_put(f->s, f->m, "lib/b", mf, strlen(mf), MT_OCI_MANIFEST, NULL, tags, 1,
                                               &res),
                         0);
        registry_test_set_crash_point(NULL);
        assert_int_equal(gc_mid_rc, 0);
        assert_true(gc_mid.blobs >= 1); /* the manifest's blob went in between */
        assert_int_equal(meta_manifest_get(f->m, "lib/b", "v1", &info), 1);
        assert_int_equal(store_blob_stat(f->s, &md, NULL), 1);
        assert_blob_file(f, &md, mf);
        free(mf);
}

/* A cross-repository mount of a blob a GC sweeps between the mount's look at the
 * file and its row: refused (the client uploads instead), no row without file. */
static void test_gc_mount_racing_sweep(void **state) {
        fixture_t *f = *state;
        digest_t d;

        push_blob(f, "lib/a", "mounted", &d); /* no manifest: GC with grace 0 takes it */
        gc_fx = f;
        registry_test_set_crash_point(gc_in_between);
        assert_int_equal(registry_blob_mount(f->s, f->m, "lib/b", &d, 7), 0);
        registry_test_set_crash_point(NULL);
        assert_int_equal(gc_mid_rc, 0);
        assert_int_equal(meta_blob_linked(f->m, "lib/b", &d, NULL), 0);
        assert_int_equal(meta_blob_known(f->m, &d), 0);
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 0);
}

/* --delete-untagged: an untagged manifest goes, never a child of a kept index nor
 * a referrer of a kept subject; referrers go with their subject, children with
 * their index, pass after pass. */
static void test_gc_untagged_keeps_children_and_referrers(void **state) {
        fixture_t *f = *state;
        meta_manifest_info_t info;
        digest_t cfg, l1, l2, child, loose, idx, sig, sig_loose;
        registry_gc_result_t res;
        char *m1, *m2, *ix, *s1, *s2;

        push_blob(f, "lib/a", "{}", &cfg);
        push_blob(f, "lib/a", "layer one", &l1);
        push_blob(f, "lib/a", "layer two", &l2);
        m1 = image_manifest(&cfg, 2, &l1, 9, NULL);
        m2 = image_manifest(&cfg, 2, &l2, 9, NULL);
        child = put_manifest(f, "lib/a", m1, MT_OCI_MANIFEST, NULL);   /* untagged, in the index */
        loose = put_manifest(f, "lib/a", m2, MT_OCI_MANIFEST, NULL);   /* untagged, alone */
        ix = index_of(&child, 1);
        idx = put_manifest(f, "lib/a", ix, MT_OCI_INDEX, "v1");
        s1 = image_manifest(&cfg, 2, &l1, 9, &child);                  /* a referrer of the kept child */
        sig = put_manifest(f, "lib/a", s1, MT_OCI_MANIFEST, NULL);
        s2 = image_manifest(&cfg, 2, &l2, 9, &loose);                  /* a referrer of the loose one */
        sig_loose = put_manifest(f, "lib/a", s2, MT_OCI_MANIFEST, NULL);

        /* without the policy, untagged manifests stay */
        res = gc_now(f, false);
        assert_int_equal(res.manifests, 0);
        assert_int_equal(meta_manifest_get(f->m, "lib/a", loose.str, &info), 1);

        res = gc_now(f, true);
        assert_int_equal(res.manifests, 2); /* loose, then its referrer */
        assert_int_equal(meta_manifest_get(f->m, "lib/a", loose.str, &info), 0);
        assert_int_equal(meta_manifest_get(f->m, "lib/a", sig_loose.str, &info), 0);
        assert_int_equal(meta_manifest_get(f->m, "lib/a", child.str, &info), 1);
        assert_int_equal(meta_manifest_get(f->m, "lib/a", sig.str, &info), 1);
        assert_int_equal(meta_manifest_get(f->m, "lib/a", "v1", &info), 1);
        assert_blob_file(f, &l1, "layer one");
        assert_int_equal(meta_blob_known(f->m, &l2), 0); /* only the two deleted manifests named it */

        /* the index untagged: index, child, the child's referrer, then their blobs */
        assert_int_equal(meta_tag_delete(f->m, "lib/a", "v1"), 1);
        res = gc_now(f, true);
        assert_int_equal(res.manifests, 3);
        assert_int_equal(meta_manifest_get(f->m, "lib/a", idx.str, &info), 0);
        assert_int_equal(meta_manifest_get(f->m, "lib/a", child.str, &info), 0);
        assert_int_equal(meta_manifest_get(f->m, "lib/a", sig.str, &info), 0);
        assert_int_equal(meta_blob_known(f->m, &l1), 0);
        assert_int_equal(store_blob_stat(f->s, &l1, NULL), 0);
        free(m1), free(m2), free(ix), free(s1), free(s2);
}

/* A run killed between moving a file to trash/ and its commit: the next run puts
 * back the file of a row that is still there. Another run holding the lock
 * keeps a second one out. */
static void test_gc_trash_reconciled_and_one_run_at_a_time(void **state) {
        fixture_t *f = *state;
        registry_gc_result_t res;
        meta_t *m2 = NULL;
        digest_t d;

        push_blob(f, "lib/a", "kept", &d);
        assert_int_equal(store_blob_trash(f->s, &d), 0); /* what a killed run leaves */
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 0);
        {
                registry_gc_options_t o = { .grace = 3600, .who = "test" };
                assert_int_equal(registry_gc_run(f->s, f->m, &o, &res), 0);
        }
        assert_int_equal(res.trash_restored, 1);
        assert_blob_file(f, &d, "kept");

        assert_int_equal(meta_open(f->db, &m2), 0);
        assert_int_equal(meta_lock_try(m2, DB_LOCK_GC), 1);
        {
                registry_gc_options_t o = { .grace = 0, .who = "test" };
                assert_int_equal(registry_gc_run(f->s, f->m, &o, &res), BERTH_EBUSY);
        }
        meta_unlock(m2, DB_LOCK_GC);
        meta_free(m2);
        /* the runs are recorded */
        {
                meta_gc_run_t *v = NULL;
                size_t n = 0;
                assert_int_equal(meta_gc_runs(f->m, 10, &v, &n), 0);
                assert_int_equal(n, 1);
                assert_string_equal(v[0].result, "ok");
                assert_string_equal(v[0].who, "test");
                assert_true(v[0].finished >= v[0].started);
                meta_gc_runs_free(v, n);
        }
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
                cmocka_unit_test_setup_teardown(test_gc_blob_relinked_before_sweep_is_kept, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gc_upload_completing_swept_digest_keeps_row_and_file, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_gc_manifest_put_racing_sweep, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gc_manifest_file_swept_during_put_is_placed_again, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_gc_mount_racing_sweep, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gc_untagged_keeps_children_and_referrers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gc_trash_reconciled_and_one_run_at_a_time, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
