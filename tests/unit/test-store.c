/* tests/unit/test-store.c: the blob store and upload sessions. Each test runs in a
 * fresh temporary directory, removed at teardown. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "common/digest.h"
#include "common/err.h"
#include "storage/store-internal.h"
#include "storage/store.h"
#include "fixture.h"

typedef struct {
        char dir[256];
        char root[300];
        store_t *s;
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));

        if (!f || fx_tmpdir(f->dir, sizeof(f->dir), "store") < 0)
                return -1;
        if (fx_path(f->root, sizeof(f->root), f->dir, "data") < 0 || store_open(f->root, &f->s) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;

        f->s = store_free(f->s);
        fx_rmtree(f->dir);
        free(f);
        return 0;
}

/* ---- helpers ---- */

static digest_t dg(digest_alg_t alg, const char *content, size_t len) {
        digest_t d;
        assert_int_equal(digest_buf(alg, content, len, &d), 0);
        return d;
}
#define DG(str) dg(DIGEST_SHA256, (str), strlen(str))

static char *path_of(const fixture_t *f, const char *rel) {
        char *p = NULL;
        assert_true(asprintf(&p, "%s/%s", f->root, rel) > 0);
        return p;
}

static char *blob_path(const fixture_t *f, const digest_t *d) {
        char rel[DIGEST_PATH_MAX], *p = NULL;
        assert_int_equal(digest_rel_path(d, rel, sizeof(rel)), 0);
        assert_true(asprintf(&p, "%s/blobs/%s", f->root, rel) > 0);
        return p;
}

static size_t count_entries(const fixture_t *f, const char *rel) {
        char *p = path_of(f, rel);
        struct dirent *de;
        size_t n = 0;
        DIR *d = opendir(p);

        assert_non_null(d);
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        n++;
        closedir(d);
        free(p);
        return n;
}

/* Read the whole blob back. */
static char *read_blob(fixture_t *f, const digest_t *d, uint64_t *ret_size) {
        int fd = -1;
        uint64_t size = 0;
        char *buf;

        assert_int_equal(store_blob_open(f->s, d, &fd, &size), 0);
        buf = calloc(1, size + 1);
        assert_non_null(buf);
        assert_int_equal(pread(fd, buf, size, 0), (ssize_t) size);
        close(fd);
        *ret_size = size;
        return buf;
}

static void new_upload(fixture_t *f, digest_alg_t alg, char uuid[UPLOAD_UUID_LEN + 1], upload_t **u) {
        assert_int_equal(store_upload_create(f->s, alg, uuid), 0);
        assert_int_equal(store_upload_acquire(f->s, uuid, u), 0);
}

/* ---- blobs ---- */

static void test_put_stat_open_round_trip(void **state) {
        fixture_t *f = *state;
        const char *c = "hello, blob";
        digest_t d = DG(c);
        uint64_t size = 0;
        char *back;

        assert_int_equal(store_blob_stat(f->s, &d, NULL), 0);
        assert_int_equal(store_blob_put(f->s, &d, c, strlen(c)), 0);
        assert_int_equal(store_blob_stat(f->s, &d, &size), 1);
        assert_int_equal(size, strlen(c));
        back = read_blob(f, &d, &size);
        assert_int_equal(size, strlen(c));
        assert_memory_equal(back, c, size);
        free(back);
        assert_int_equal(count_entries(f, "tmp"), 0);
}

static void test_put_wrong_digest_stores_nothing(void **state) {
        fixture_t *f = *state;
        digest_t d = DG("expected");
        int fd = -1;

        assert_int_equal(store_blob_put(f->s, &d, "other", 5), BERTH_EDIGEST);
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 0);
        assert_int_equal(store_blob_open(f->s, &d, &fd, NULL), -ENOENT);
        assert_int_equal(count_entries(f, "tmp"), 0);
        assert_int_equal(count_entries(f, "blobs/sha256"), 0);
}

static void test_put_twice_deduplicates(void **state) {
        fixture_t *f = *state;
        const char *c = "same content";
        digest_t d = DG(c);
        char *p = blob_path(f, &d);
        struct stat st1, st2;

        assert_int_equal(store_blob_put(f->s, &d, c, strlen(c)), 0);
        assert_int_equal(stat(p, &st1), 0);
        assert_int_equal(store_blob_put(f->s, &d, c, strlen(c)), 0);
        assert_int_equal(stat(p, &st2), 0);
        assert_int_equal(st1.st_ino, st2.st_ino); /* the first file stays */
        assert_int_equal(st2.st_nlink, 1);
        assert_int_equal(count_entries(f, "tmp"), 0);
        free(p);
}

static void test_upload_of_existing_blob_deduplicates(void **state) {
        fixture_t *f = *state;
        const char *c = "pushed twice";
        digest_t d = DG(c);
        char uuid[UPLOAD_UUID_LEN + 1], *p = blob_path(f, &d);
        struct stat st1, st2;
        upload_t *u;

        assert_int_equal(store_blob_put(f->s, &d, c, strlen(c)), 0);
        assert_int_equal(stat(p, &st1), 0);
        new_upload(f, DIGEST_SHA256, uuid, &u);
        assert_int_equal(fx_upload_write(u, c, strlen(c)), 0);
        assert_int_equal(upload_commit(u, &d, NULL), 0);
        store_upload_release(u);
        assert_int_equal(stat(p, &st2), 0);
        assert_int_equal(st1.st_ino, st2.st_ino);
        assert_int_equal(st2.st_nlink, 1);
        assert_int_equal(count_entries(f, "uploads"), 0);
        free(p);
}

static void test_blob_remove(void **state) {
        fixture_t *f = *state;
        digest_t d = DG("garbage");

        assert_int_equal(store_blob_put(f->s, &d, "garbage", 7), 0);
        assert_int_equal(store_blob_remove(f->s, &d), 0);
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 0);
        assert_int_equal(store_blob_remove(f->s, &d), -ENOENT);
}

/* ---- uploads ---- */

static void test_upload_file_is_never_a_blob(void **state) {
        fixture_t *f = *state;
        const char *c = "in progress";
        digest_t d = DG(c);
        char uuid[UPLOAD_UUID_LEN + 1];
        upload_t *u;
        int fd = -1;

        new_upload(f, DIGEST_SHA256, uuid, &u);
        assert_int_equal(fx_upload_write(u, c, strlen(c)), 0);
        /* all bytes are in uploads/<uuid>, the digest matches, still not a blob */
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 0);
        assert_int_equal(store_blob_open(f->s, &d, &fd, NULL), -ENOENT);
        assert_int_equal(count_entries(f, "blobs/sha256"), 0);
        store_upload_release(u);
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 0);
}

static void test_upload_write_commit(void **state) {
        fixture_t *f = *state;
        digest_t d = DG("chunk one|chunk two");
        char uuid[UPLOAD_UUID_LEN + 1], *back;
        uint64_t size = 0;
        upload_t *u;

        new_upload(f, DIGEST_SHA256, uuid, &u);
        assert_string_equal(upload_uuid(u), uuid);
        assert_int_equal(fx_upload_write(u, "chunk one|", 10), 0);
        store_upload_release(u);
        assert_int_equal(store_upload_acquire(f->s, uuid, &u), 0);
        assert_int_equal(upload_size(u), 10);
        assert_int_equal(fx_upload_write(u, "chunk two", 9), 0);
        assert_int_equal(upload_size(u), 19);
        assert_int_equal(upload_commit(u, &d, &size), 0);
        assert_int_equal(size, 19);
        assert_int_equal(fx_upload_write(u, "x", 1), -ENOENT); /* the session is gone */
        store_upload_release(u);

        back = read_blob(f, &d, &size);
        assert_memory_equal(back, "chunk one|chunk two", 19);
        free(back);
        assert_int_equal(count_entries(f, "uploads"), 0);
        assert_int_equal(store_upload_acquire(f->s, uuid, &u), -ENOENT);
        assert_int_equal(store__sessions_count(f->s), 0);
}

static void test_commit_wrong_digest_leaves_session(void **state) {
        fixture_t *f = *state;
        digest_t wrong = DG("abd"), right = DG("abc");
        char uuid[UPLOAD_UUID_LEN + 1], *p;
        upload_t *u;
        struct stat st;

        new_upload(f, DIGEST_SHA256, uuid, &u);
        assert_int_equal(fx_upload_write(u, "abc", 3), 0);
        assert_int_equal(upload_commit(u, &wrong, NULL), BERTH_EDIGEST);
        assert_int_equal(upload_size(u), 3);
        assert_int_equal(store_blob_stat(f->s, &wrong, NULL), 0);
        assert_int_equal(store_blob_stat(f->s, &right, NULL), 0);
        store_upload_release(u);

        p = path_of(f, "uploads/");
        p = realloc(p, strlen(p) + UPLOAD_UUID_LEN + 1);
        strcat(p, uuid);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_size, 3);
        assert_int_equal(st.st_nlink, 1);
        free(p);

        assert_int_equal(store_upload_acquire(f->s, uuid, &u), 0);
        assert_int_equal(upload_commit(u, &right, NULL), 0);
        store_upload_release(u);
        assert_int_equal(store_blob_stat(f->s, &right, NULL), 1);
}

/* Hashing beside the writes: many pieces, two alternating buffers as the server
 * uses them; the digest must cover every byte in order, and a wrong digest still
 * leaves the session intact. */
static void test_async_writes_hash_in_order(void **state) {
        fixture_t *f = *state;
        enum { PIECE = 256 * 1024, N = 12 };
        char uuid[UPLOAD_UUID_LEN + 1];
        unsigned char *all = malloc((size_t) PIECE * N), *buf[2] = { malloc(PIECE), malloc(PIECE) };
        digest_t d, wrong = DG("not this");
        uint64_t size = 0;
        upload_t *u;

        assert_non_null(all);
        for (size_t i = 0; i < (size_t) PIECE * N; i++)
                all[i] = (unsigned char) (i * 2654435761u >> 13);
        assert_int_equal(digest_buf(DIGEST_SHA256, all, (size_t) PIECE * N, &d), 0);

        new_upload(f, DIGEST_SHA256, uuid, &u);
        for (int i = 0; i < N; i++) {
                /* the buffer handed over two calls ago is free again: reuse it */
                memcpy(buf[i & 1], all + (size_t) i * PIECE, PIECE);
                assert_int_equal(upload_write_async(u, buf[i & 1], PIECE), 0);
                if (i == N / 2) { /* a release between requests waits for the hash */
                        store_upload_release(u);
                        assert_int_equal(store_upload_acquire(f->s, uuid, &u), 0);
                }
        }
        assert_int_equal(upload_size(u), (uint64_t) PIECE * N);
        assert_int_equal(upload_commit(u, &wrong, NULL), BERTH_EDIGEST);
        assert_int_equal(upload_commit(u, &d, &size), 0);
        assert_int_equal(size, (uint64_t) PIECE * N);
        store_upload_release(u);
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 1);
        free(all);
        free(buf[0]);
        free(buf[1]);
}

static void count_action(void *userdata, store_action_t a, uint64_t ns) {
        unsigned *n = userdata;

        (void) ns;
        assert_true(a < _STORE_ACT_MAX);
        n[a]++;
}

/* The observer (registry_storage_action_seconds) hears each public call once. */
static void test_observer_hears_each_call(void **state) {
        fixture_t *f = *state;
        digest_t d = DG("observed"), e = DG("committed");
        char uuid[UPLOAD_UUID_LEN + 1];
        unsigned n[_STORE_ACT_MAX] = { 0 };
        upload_t *u;
        int fd = -1;

        store_set_observer(f->s, count_action, n);
        assert_int_equal(store_blob_put(f->s, &d, "observed", 8), 0);
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 1);
        assert_int_equal(store_blob_open(f->s, &d, &fd, NULL), 0);
        close(fd);
        new_upload(f, DIGEST_SHA256, uuid, &u);
        assert_int_equal(fx_upload_write(u, "committed", 9), 0);
        assert_int_equal(upload_commit(u, &e, NULL), 0);
        store_upload_release(u);
        assert_int_equal(store_blob_remove(f->s, &d), 0);
        assert_int_equal(n[STORE_ACT_PUT], 1);
        assert_int_equal(n[STORE_ACT_STAT], 1); /* put's own check is not a call */
        assert_int_equal(n[STORE_ACT_OPEN], 1);
        assert_int_equal(n[STORE_ACT_COMMIT], 1);
        assert_int_equal(n[STORE_ACT_DELETE], 1);
        store_set_observer(f->s, NULL, NULL);
        assert_int_equal(store_blob_stat(f->s, &e, NULL), 1);
        assert_int_equal(n[STORE_ACT_STAT], 1);
}

static void test_rehash_at_commit_after_restart(void **state) {
        fixture_t *f = *state;
        digest_t d = DG("written before the restart");
        char uuid[UPLOAD_UUID_LEN + 1];
        upload_t *u;

        new_upload(f, DIGEST_SHA256, uuid, &u);
        assert_int_equal(fx_upload_write(u, "written before the restart", 26), 0);
        store_upload_release(u);
        f->s = store_free(f->s);
        assert_int_equal(store_open(f->root, &f->s), 0);

        assert_int_equal(store_upload_acquire(f->s, uuid, &u), 0);
        assert_int_equal(upload_size(u), 26);
        assert_int_equal(upload_commit(u, &d, NULL), 0);
        store_upload_release(u);
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 1);
}

static void test_rehash_at_write_after_restart(void **state) {
        fixture_t *f = *state;
        digest_t d = DG("before|after");
        char uuid[UPLOAD_UUID_LEN + 1];
        upload_t *u;

        new_upload(f, DIGEST_SHA256, uuid, &u);
        assert_int_equal(fx_upload_write(u, "before|", 7), 0);
        store_upload_release(u);
        f->s = store_free(f->s);
        assert_int_equal(store_open(f->root, &f->s), 0);

        assert_int_equal(store_upload_acquire(f->s, uuid, &u), 0);
        assert_int_equal(fx_upload_write(u, "after", 5), 0);
        assert_int_equal(upload_commit(u, &d, NULL), 0);
        store_upload_release(u);
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 1);
}

static void test_rehash_after_eviction(void **state) {
        fixture_t *f = *state;
        digest_t d = DG("idle|back");
        char uuid[UPLOAD_UUID_LEN + 1];
        upload_t *u;

        new_upload(f, DIGEST_SHA256, uuid, &u);
        assert_int_equal(fx_upload_write(u, "idle|", 5), 0);
        store_upload_release(u);
        assert_int_equal(store__sessions_count(f->s), 1);
        assert_int_equal(store__sessions_evict(f->s, 0), 1);
        assert_int_equal(store__sessions_count(f->s), 0);

        assert_int_equal(store_upload_acquire(f->s, uuid, &u), 0);
        assert_int_equal(fx_upload_write(u, "back", 4), 0);
        assert_int_equal(upload_commit(u, &d, NULL), 0);
        store_upload_release(u);
}

static void test_commit_sha512(void **state) {
        fixture_t *f = *state;
        const char *c = "a sha512 blob";
        digest_t d512 = dg(DIGEST_SHA512, c, strlen(c));
        char uuid[UPLOAD_UUID_LEN + 1], *p = blob_path(f, &d512);
        struct stat st;
        upload_t *u;

        /* a sha256 session committed with a sha512 digest is re-hashed */
        new_upload(f, DIGEST_SHA256, uuid, &u);
        assert_int_equal(fx_upload_write(u, c, strlen(c)), 0);
        assert_int_equal(upload_commit(u, &d512, NULL), 0);
        store_upload_release(u);
        assert_int_equal(store_blob_stat(f->s, &d512, NULL), 1);
        assert_int_equal(stat(p, &st), 0);
        assert_non_null(strstr(p, "/blobs/sha512/"));
        free(p);
}

static void test_sha512_session(void **state) {
        fixture_t *f = *state;
        const char *c = "native sha512 session";
        digest_t d512 = dg(DIGEST_SHA512, c, strlen(c)), d256 = DG(c);
        char uuid[UPLOAD_UUID_LEN + 1];
        upload_t *u;

        new_upload(f, DIGEST_SHA512, uuid, &u);
        assert_int_equal(fx_upload_write(u, c, 6), 0);
        assert_int_equal(fx_upload_write(u, c + 6, strlen(c) - 6), 0);
        assert_int_equal(upload_commit(u, &d512, NULL), 0);
        store_upload_release(u);
        assert_int_equal(store_blob_stat(f->s, &d512, NULL), 1);
        assert_int_equal(store_blob_stat(f->s, &d256, NULL), 0);
}

static void test_truncate(void **state) {
        fixture_t *f = *state;
        digest_t d = DG("keep!");
        char uuid[UPLOAD_UUID_LEN + 1];
        upload_t *u;

        new_upload(f, DIGEST_SHA256, uuid, &u);
        assert_int_equal(fx_upload_write(u, "keep", 4), 0);
        assert_int_equal(fx_upload_write(u, "drop this", 9), 0);
        assert_int_equal(upload_truncate(u, 100), -EINVAL);
        assert_int_equal(upload_truncate(u, 4), 0);
        assert_int_equal(upload_size(u), 4);
        assert_int_equal(fx_upload_write(u, "!", 1), 0);
        assert_int_equal(upload_commit(u, &d, NULL), 0);
        store_upload_release(u);
}

static void test_delete(void **state) {
        fixture_t *f = *state;
        char uuid[UPLOAD_UUID_LEN + 1];
        upload_t *u;

        new_upload(f, DIGEST_SHA256, uuid, &u);
        assert_int_equal(fx_upload_write(u, "abc", 3), 0);
        store_upload_release(u);
        assert_int_equal(count_entries(f, "uploads"), 1);
        assert_int_equal(store_upload_delete(f->s, uuid), 0);
        assert_int_equal(count_entries(f, "uploads"), 0);
        assert_int_equal(store__sessions_count(f->s), 0);
        assert_int_equal(store_upload_acquire(f->s, uuid, &u), -ENOENT);
        assert_int_equal(store_upload_delete(f->s, uuid), -ENOENT);
}

static void test_uuid_validation(void **state) {
        fixture_t *f = *state;
        char uuid[UPLOAD_UUID_LEN + 1], upper[UPLOAD_UUID_LEN + 1];
        upload_t *u = NULL;

        assert_int_equal(store_upload_create(f->s, DIGEST_SHA256, uuid), 0);
        assert_true(store__uuid_valid(uuid));
        assert_int_equal(uuid[14], '4'); /* version 4 */

        assert_false(store__uuid_valid("../x"));
        assert_int_equal(store_upload_acquire(f->s, "../x", &u), -ENOENT);
        assert_null(u);
        assert_int_equal(store_upload_delete(f->s, "../uploads/x"), -ENOENT);
        assert_int_equal(store_upload_delete(f->s, "../../data"), -ENOENT);

        memcpy(upper, uuid, sizeof(upper));
        upper[0] = 'A';
        assert_false(store__uuid_valid(upper));
        assert_false(store__uuid_valid("00000000-0000-4000-8000-00000000000"));   /* 35 */
        assert_false(store__uuid_valid("00000000-0000-4000-8000-0000000000000")); /* 37 */
        assert_false(store__uuid_valid("00000000-0000-4000-8000/000000000000"));
        assert_false(store__uuid_valid("000000000-000-4000-8000-000000000000"));
        assert_false(store__uuid_valid(""));
        assert_false(store__uuid_valid(NULL));
        assert_true(store__uuid_valid("00000000-0000-4000-8000-000000000000"));
        /* well-formed but unknown */
        assert_int_equal(store_upload_acquire(f->s, "00000000-0000-4000-8000-000000000000", &u), -ENOENT);
        assert_int_equal(count_entries(f, "uploads"), 1);
}

/* Another request (thread) tries the session: it must come back at once. */
struct taker {
        store_t *s;
        const char *uuid;
        volatile int done;
        int rc;
        int (*op)(struct taker *t);
};

static int take_op(struct taker *t) {
        upload_t *u = NULL;
        int r = store_upload_acquire(t->s, t->uuid, &u);

        store_upload_release(u);
        return r;
}

static int delete_op(struct taker *t) {
        return store_upload_delete(t->s, t->uuid);
}

static void *taker_main(void *arg) {
        struct taker *t = arg;

        t->rc = t->op(t);
        __atomic_store_n(&t->done, 1, __ATOMIC_SEQ_CST);
        return NULL;
}

/* Run op on another thread; fail if it has not returned within 2 s (it would wait
 * for the holder), then let the holder go so the thread can end either way. */
static int try_from_other_thread(store_t *s, const char *uuid, int (*op)(struct taker *t),
                                 upload_t **holder) {
        struct taker t = { .s = s, .uuid = uuid, .op = op };
        struct timespec pause = { .tv_nsec = 10 * 1000 * 1000 };
        pthread_t th;
        int done = 0;

        assert_int_equal(pthread_create(&th, NULL, taker_main, &t), 0);
        for (int i = 0; i < 200 && !done; i++) {
                nanosleep(&pause, NULL);
                done = __atomic_load_n(&t.done, __ATOMIC_SEQ_CST);
        }
        if (!done) {
                store_upload_release(*holder);
                *holder = NULL;
        }
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_true(done); /* it waited for the holder */
        return t.rc;
}

static void test_busy_session_refuses_at_once(void **state) {
        fixture_t *f = *state;
        digest_t d = DG("AAAABBBB");
        char uuid[UPLOAD_UUID_LEN + 1];
        upload_t *u, *v = NULL;

        new_upload(f, DIGEST_SHA256, uuid, &u);
        assert_int_equal(fx_upload_write(u, "AA", 2), 0);
        assert_int_equal(try_from_other_thread(f->s, uuid, take_op, &u), BERTH_EBUSY);
        /* and on the holder's own thread too: nothing waits */
        assert_int_equal(store_upload_acquire(f->s, uuid, &v), BERTH_EBUSY);
        assert_null(v);
        /* the holder goes on undisturbed */
        assert_int_equal(fx_upload_write(u, "AA", 2), 0);
        store_upload_release(u);

        /* given back: the next request takes it and sees every byte */
        assert_int_equal(store_upload_acquire(f->s, uuid, &u), 0);
        assert_int_equal(upload_size(u), 4);
        assert_int_equal(fx_upload_write(u, "BBBB", 4), 0);
        assert_int_equal(upload_commit(u, &d, NULL), 0);
        store_upload_release(u);
}

/* Replicas share the directory: a second process (here a second store_t on the
 * same root) is refused a session another holds, at once; once it is given back
 * the other takes it, re-hashes what the first wrote, and completes it. */
static void test_session_held_by_another_process(void **state) {
        fixture_t *f = *state;
        digest_t d = DG("replica A|replica B");
        char uuid[UPLOAD_UUID_LEN + 1];
        store_t *other = NULL;
        upload_t *u, *v = NULL;

        assert_int_equal(store_open(f->root, &other), 0);
        new_upload(f, DIGEST_SHA256, uuid, &u);
        assert_int_equal(fx_upload_write(u, "replica A|", 10), 0);
        assert_int_equal(store_upload_acquire(other, uuid, &v), BERTH_EBUSY);
        assert_null(v);
        store_upload_release(u);
        assert_int_equal(store_upload_acquire(other, uuid, &v), 0);
        assert_int_equal(upload_size(v), 10);
        assert_int_equal(store_upload_acquire(f->s, uuid, &u), BERTH_EBUSY); /* and the other way */
        assert_int_equal(fx_upload_write(v, "replica B", 9), 0);
        assert_int_equal(upload_commit(v, &d, NULL), 0);
        store_upload_release(v);
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 1);
        store_free(other);
}

/* Replicas: the process that made a session (and remembers its size) reports what
 * the file holds after another process has written to it, not what it remembers. */
static void test_committed_size_after_another_process_wrote(void **state) {
        fixture_t *f = *state;
        digest_t d = DG("abcdefg");
        char uuid[UPLOAD_UUID_LEN + 1];
        store_t *other = NULL;
        uint64_t size = 99;
        upload_t *u, *v = NULL;

        assert_int_equal(store_open(f->root, &other), 0);
        new_upload(f, DIGEST_SHA256, uuid, &u);
        assert_int_equal(fx_upload_write(u, "abc", 3), 0);
        store_upload_release(u);
        assert_int_equal(store_upload_committed(f->s, uuid, &size), 0);
        assert_int_equal(size, 3);
        assert_int_equal(store_upload_acquire(other, uuid, &v), 0);
        assert_int_equal(fx_upload_write(v, "defg", 4), 0);
        store_upload_release(v);
        assert_int_equal(store_upload_committed(f->s, uuid, &size), 0);
        assert_int_equal(size, 7);
        assert_int_equal(store_upload_committed(other, uuid, &size), 0);
        assert_int_equal(size, 7);
        /* and the first takes it from there: every byte, re-hashed */
        assert_int_equal(store_upload_acquire(f->s, uuid, &u), 0);
        assert_int_equal(upload_size(u), 7);
        assert_int_equal(upload_commit(u, &d, NULL), 0);
        store_upload_release(u);
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 1);
        store_free(other);
}

/* Chunks alternate between two processes: each one's hash state, left behind when
 * the other wrote, is carried on over the other's bytes (not rebuilt), and the
 * digest at commit is the content's. */
static void test_hash_state_carried_over_another_process_chunks(void **state) {
        fixture_t *f = *state;
        digest_t d = DG("A1|B1|A2|B2|A3");
        char uuid[UPLOAD_UUID_LEN + 1];
        store_t *other = NULL;
        upload_t *u;
        static const char *const chunks[] = { "A1|", "B1|", "A2|", "B2|", "A3" };

        assert_int_equal(store_open(f->root, &other), 0);
        new_upload(f, DIGEST_SHA256, uuid, &u);
        store_upload_release(u);
        for (size_t i = 0; i < 5; i++) {
                store_t *s = i % 2 ? other : f->s;
                assert_int_equal(store_upload_acquire(s, uuid, &u), 0);
                assert_int_equal(fx_upload_write(u, chunks[i], strlen(chunks[i])), 0);
                if (i < 4)
                        store_upload_release(u);
        }
        assert_int_equal(upload_commit(u, &d, NULL), 0);
        store_upload_release(u);
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 1);
        store_free(other);
}

static void test_busy_session_committed_size(void **state) {
        fixture_t *f = *state;
        char uuid[UPLOAD_UUID_LEN + 1];
        uint64_t size = 99;
        upload_t *u;

        new_upload(f, DIGEST_SHA256, uuid, &u);
        /* a new session, held: nothing committed yet */
        assert_int_equal(store_upload_committed(f->s, uuid, &size), 1);
        assert_int_equal(size, 0);
        assert_int_equal(fx_upload_write(u, "abc", 3), 0);
        /* the holder's bytes are not committed while it may still undo them */
        assert_int_equal(store_upload_committed(f->s, uuid, &size), 1);
        assert_int_equal(size, 0);
        store_upload_release(u);
        assert_int_equal(store_upload_committed(f->s, uuid, &size), 0);
        assert_int_equal(size, 3);

        /* the next holder starts from 3; a chunk it undoes never counts */
        assert_int_equal(store_upload_acquire(f->s, uuid, &u), 0);
        assert_int_equal(upload_write_async(u, "defg", 4), 0);
        assert_int_equal(store_upload_committed(f->s, uuid, &size), 1);
        assert_int_equal(size, 3);
        assert_int_equal(upload_truncate(u, 3), 0);
        store_upload_release(u);
        assert_int_equal(store_upload_committed(f->s, uuid, &size), 0);
        assert_int_equal(size, 3);

        /* a held session is never evicted, and its committed size stays readable */
        assert_int_equal(store_upload_acquire(f->s, uuid, &u), 0);
        assert_int_equal(fx_upload_write(u, "de", 2), 0);
        (void) store__sessions_evict(f->s, 0);
        assert_int_equal(store_upload_committed(f->s, uuid, &size), 1);
        assert_int_equal(size, 3);
        store_upload_release(u);
        assert_int_equal(store_upload_committed(f->s, uuid, &size), 0);
        assert_int_equal(size, 5);

        /* nothing in memory (restart): the file says */
        f->s = store_free(f->s);
        assert_int_equal(store_open(f->root, &f->s), 0);
        assert_int_equal(store_upload_committed(f->s, uuid, &size), 0);
        assert_int_equal(size, 5);
        assert_int_equal(store_upload_acquire(f->s, uuid, &u), 0);
        assert_int_equal(store_upload_committed(f->s, uuid, &size), 1);
        assert_int_equal(size, 5);
        store_upload_release(u);

        assert_int_equal(store_upload_committed(f->s, "00000000-0000-4000-8000-000000000000", &size), -ENOENT);
        assert_int_equal(store_upload_committed(f->s, "../uploads", &size), -ENOENT);
}

static void test_delete_refuses_busy_session(void **state) {
        fixture_t *f = *state;
        char uuid[UPLOAD_UUID_LEN + 1];
        uint64_t size;
        upload_t *u;

        new_upload(f, DIGEST_SHA256, uuid, &u);
        assert_int_equal(fx_upload_write(u, "x", 1), 0);
        assert_int_equal(try_from_other_thread(f->s, uuid, delete_op, &u), BERTH_EBUSY);
        assert_int_equal(count_entries(f, "uploads"), 1);
        assert_int_equal(fx_upload_write(u, "y", 1), 0);
        store_upload_release(u);
        assert_int_equal(store_upload_committed(f->s, uuid, &size), 0);
        assert_int_equal(size, 2);
        assert_int_equal(store_upload_delete(f->s, uuid), 0);
        assert_int_equal(store_upload_acquire(f->s, uuid, &u), -ENOENT);
        assert_int_equal(store_upload_committed(f->s, uuid, &size), -ENOENT);
        assert_int_equal(count_entries(f, "uploads"), 0);
}

static void test_holder_removes_session(void **state) {
        fixture_t *f = *state;
        char uuid[UPLOAD_UUID_LEN + 1];
        uint64_t size;
        upload_t *u;

        new_upload(f, DIGEST_SHA256, uuid, &u);
        assert_int_equal(upload_write_async(u, "abc", 3), 0);
        assert_int_equal(upload_remove(u), 0);
        assert_int_equal(upload_remove(u), -ENOENT);
        assert_int_equal(fx_upload_write(u, "d", 1), -ENOENT);
        store_upload_release(u);
        assert_int_equal(count_entries(f, "uploads"), 0);
        assert_int_equal(store__sessions_count(f->s), 0);
        assert_int_equal(store_upload_acquire(f->s, uuid, &u), -ENOENT);
        assert_int_equal(store_upload_committed(f->s, uuid, &size), -ENOENT);
}

static void test_large_upload_with_writeback(void **state) {
        fixture_t *f = *state;
        const size_t chunk = 1u << 20, n = 20; /* 20 MiB: crosses the writeback chunk */
        char uuid[UPLOAD_UUID_LEN + 1];
        digest_ctx_t *c = NULL;
        uint64_t size = 0;
        digest_t d;
        uint8_t *buf = malloc(chunk);
        upload_t *u;

        assert_non_null(buf);
        assert_int_equal(digest_ctx_new(DIGEST_SHA256, &c), 0);
        new_upload(f, DIGEST_SHA256, uuid, &u);
        for (size_t i = 0; i < n; i++) {
                memset(buf, (int) ('a' + i), chunk);
                buf[i] = 0;
                assert_int_equal(fx_upload_write(u, buf, chunk), 0);
                assert_int_equal(digest_ctx_update(c, buf, chunk), 0);
        }
        assert_int_equal(digest_ctx_peek(c, &d), 0);
        assert_int_equal(upload_commit(u, &d, &size), 0);
        store_upload_release(u);
        assert_int_equal(size, chunk * n);
        assert_int_equal(store_blob_stat(f->s, &d, &size), 1);
        assert_int_equal(size, chunk * n);
        digest_ctx_free(c);
        free(buf);
}

static void test_failed_write_leaves_session_consistent(void **state) {
        fixture_t *f = *state;
        const size_t big = 256u << 10;
        char uuid[UPLOAD_UUID_LEN + 1], *buf = calloc(1, big), *p;
        struct rlimit old, lim;
        digest_t d = DG("headtail");
        struct stat st;
        upload_t *u;

        assert_non_null(buf);
        new_upload(f, DIGEST_SHA256, uuid, &u);
        assert_int_equal(fx_upload_write(u, "head", 4), 0);
        /* Make the file system refuse part way through a write (EFBIG past the
         * limit after a short write): the session must stay exactly as it was. */
        signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
        lim = old;
        lim.rlim_cur = 64u << 10;
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        assert_int_equal(fx_upload_write(u, buf, big), -EFBIG);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        signal(SIGXFSZ, SIG_DFL);

        assert_int_equal(upload_size(u), 4);
        p = path_of(f, "uploads/");
        p = realloc(p, strlen(p) + UPLOAD_UUID_LEN + 1);
        strcat(p, uuid);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_size, 4);
        free(p);
        assert_int_equal(fx_upload_write(u, "tail", 4), 0);
        assert_int_equal(upload_commit(u, &d, NULL), 0);
        store_upload_release(u);
        free(buf);
}

static int scan_hits;
static char scan_uuid[UPLOAD_UUID_LEN + 1];

static void scan_cb(void *userdata, const char *uuid) {
        store_t *s = userdata;
        scan_hits++;
        memcpy(scan_uuid, uuid, sizeof(scan_uuid));
        assert_int_equal(store_upload_delete(s, uuid), 0);
}

static void test_scan_old(void **state) {
        fixture_t *f = *state;
        char old_uuid[UPLOAD_UUID_LEN + 1], new_uuid[UPLOAD_UUID_LEN + 1], *p;
        struct timespec times[2];
        upload_t *u;

        assert_int_equal(store_upload_create(f->s, DIGEST_SHA256, old_uuid), 0);
        assert_int_equal(store_upload_create(f->s, DIGEST_SHA256, new_uuid), 0);
        p = path_of(f, "uploads/");
        p = realloc(p, strlen(p) + UPLOAD_UUID_LEN + 1);
        strcat(p, old_uuid);
        clock_gettime(CLOCK_REALTIME, &times[0]);
        times[0].tv_sec -= 7200;
        times[1] = times[0];
        assert_int_equal(utimensat(AT_FDCWD, p, times, 0), 0);
        free(p);

        scan_hits = 0;
        assert_int_equal(store_upload_scan_old(f->s, 3600, scan_cb, f->s), 1);
        assert_int_equal(scan_hits, 1);
        assert_string_equal(scan_uuid, old_uuid);
        assert_int_equal(store_upload_acquire(f->s, old_uuid, &u), -ENOENT);
        assert_int_equal(store_upload_acquire(f->s, new_uuid, &u), 0);
        store_upload_release(u);
}

static int scan_busy_rc;

static void scan_busy_cb(void *userdata, const char *uuid) {
        store_t *s = userdata;
        scan_hits++;
        scan_busy_rc = store_upload_delete(s, uuid);
}

static int scan_op(struct taker *t) {
        return store_upload_scan_old(t->s, 3600, scan_busy_cb, t->s);
}

static void test_scan_old_skips_busy(void **state) {
        fixture_t *f = *state;
        char uuid[UPLOAD_UUID_LEN + 1], *p;
        struct timespec times[2];
        upload_t *u;

        new_upload(f, DIGEST_SHA256, uuid, &u);
        p = path_of(f, "uploads/");
        p = realloc(p, strlen(p) + UPLOAD_UUID_LEN + 1);
        strcat(p, uuid);
        clock_gettime(CLOCK_REALTIME, &times[0]);
        times[0].tv_sec -= 7200;
        times[1] = times[0];
        assert_int_equal(utimensat(AT_FDCWD, p, times, 0), 0);
        free(p);

        /* expiry must never wait for a request that holds the session */
        scan_hits = 0;
        scan_busy_rc = 0;
        assert_int_equal(try_from_other_thread(f->s, NULL, scan_op, &u), 1);
        assert_int_equal(scan_hits, 1);
        assert_int_equal(scan_busy_rc, BERTH_EBUSY);
        assert_int_equal(count_entries(f, "uploads"), 1);
        assert_int_equal(fx_upload_write(u, "still here", 10), 0);
        store_upload_release(u);
}

/* ---- error paths: a full disk, a damaged store ---- */

/* A file size limit (as a full disk) refuses a blob part way through: nothing is
 * stored, no scratch file is left under tmp/. */
static void test_put_over_file_size_limit(void **state) {
        fixture_t *f = *state;
        const size_t big = 256u << 10;
        char *buf = malloc(big);
        struct rlimit old, lim;
        digest_t d;

        assert_non_null(buf);
        memset(buf, 'x', big);
        d = dg(DIGEST_SHA256, buf, big);
        signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
        lim = old;
        lim.rlim_cur = 64u << 10;
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        assert_int_equal(store_blob_put(f->s, &d, buf, big), -EFBIG);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        signal(SIGXFSZ, SIG_DFL);
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 0);
        assert_int_equal(count_entries(f, "tmp"), 0);
        /* with room again, the same blob goes in */
        assert_int_equal(store_blob_put(f->s, &d, buf, big), 0);
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 1);
        free(buf);
}

/* Something that is not a regular file where a blob belongs is a damaged store
 * (-EUCLEAN), never served; a symbolic link is not followed. */
static void test_blob_not_a_regular_file(void **state) {
        fixture_t *f = *state;
        digest_t dir = DG("a directory"), link = DG("a link"), real = DG("real");
        char *pd = blob_path(f, &dir), *pl = blob_path(f, &link), *pr = blob_path(f, &real), *fan = strdup(pd);
        uint64_t size;
        int fd = -1;

        assert_int_equal(store_blob_put(f->s, &real, "real", 4), 0);
        *strrchr(fan, '/') = '\0';
        assert_true(mkdir(fan, 0700) == 0 || errno == EEXIST);
        assert_int_equal(mkdir(pd, 0700), 0);
        free(fan);
        fan = strdup(pl);
        *strrchr(fan, '/') = '\0';
        assert_true(mkdir(fan, 0700) == 0 || errno == EEXIST);
        assert_int_equal(symlink(pr, pl), 0);
        assert_int_equal(store_blob_stat(f->s, &dir, &size), -EUCLEAN);
        assert_int_equal(store_blob_open(f->s, &dir, &fd, &size), -EUCLEAN);
        assert_int_equal(fd, -1);
        assert_int_equal(store_blob_stat(f->s, &link, &size), -EUCLEAN);
        assert_int_equal(store_blob_open(f->s, &link, &fd, &size), -ELOOP);
        assert_int_equal(fd, -1);
        /* putting the right content does not replace what is there */
        assert_int_equal(store_blob_put(f->s, &dir, "a directory", 11), -EUCLEAN);
        free(pd);
        free(fan);
        free(pl);
        free(pr);
}

/* The fan-out directory is a file: the put fails and leaves no scratch file. */
static void test_put_fanout_not_a_directory(void **state) {
        fixture_t *f = *state;
        digest_t d = DG("fan");
        char *p = blob_path(f, &d);
        FILE *fp;

        *strrchr(p, '/') = '\0';
        fp = fopen(p, "w");
        assert_non_null(fp);
        fclose(fp);
        assert_int_equal(store_blob_put(f->s, &d, "fan", 3), -ENOTDIR);
        assert_int_equal(count_entries(f, "tmp"), 0);
        assert_int_equal(store_blob_stat(f->s, &d, NULL), 0);
        free(p);
}

/* store_open refuses a root that is a file, or a store whose blobs/ is a file. */
static void test_open_refuses_files(void **state) {
        fixture_t *f = *state;
        char *file = path_of(f, "plain"), *root = NULL, *blobs = NULL;
        store_t *s = NULL;
        FILE *fp = fopen(file, "w");

        assert_non_null(fp);
        fclose(fp);
        assert_int_equal(store_open(file, &s), -ENOTDIR);
        assert_null(s);
        assert_true(asprintf(&root, "%s/other", f->dir) > 0);
        assert_int_equal(mkdir(root, 0700), 0);
        assert_true(asprintf(&blobs, "%s/blobs", root) > 0);
        fp = fopen(blobs, "w");
        assert_non_null(fp);
        fclose(fp);
        assert_int_equal(store_open(root, &s), -ENOTDIR);
        assert_null(s);
        assert_int_equal(store_open("", &s), -EINVAL);
        free(file);
        free(root);
        free(blobs);
}

static int scanned;
static digest_t scanned_digest;
static uint64_t scanned_size;

static void scan_blob_cb(void *userdata, const digest_t *d, uint64_t size, time_t mtime) {
        (void) userdata;
        (void) mtime;
        scanned++;
        scanned_digest = *d;
        scanned_size = size;
}

/* The blob scan (gc's sweep) visits blobs only: not names that are not digests, not
 * a digest under the wrong fan-out directory, not a directory named like a blob. */
static void test_blob_scan_skips_strangers(void **state) {
        fixture_t *f = *state;
        digest_t d = DG("kept"), other = DG("stranger"), dir = DG("dir");
        char *p, *q;
        FILE *fp;

        assert_int_equal(store_blob_put(f->s, &d, "kept", 4), 0);
        p = blob_path(f, &d);
        *strrchr(p, '/') = '\0';
        /* not a digest; and a real digest in the wrong fan-out */
        assert_true(asprintf(&q, "%s/not-a-digest", p) > 0);
        fp = fopen(q, "w");
        assert_non_null(fp);
        fclose(fp);
        free(q);
        assert_true(asprintf(&q, "%s/%s", p, digest_hex(&other)) > 0);
        if (memcmp(digest_hex(&other), digest_hex(&d), 2) != 0) {
                fp = fopen(q, "w");
                assert_non_null(fp);
                fclose(fp);
        }
        free(q);
        free(p);
        p = blob_path(f, &dir);
        q = strdup(p);
        *strrchr(q, '/') = '\0';
        assert_true(mkdir(q, 0700) == 0 || errno == EEXIST);
        assert_int_equal(mkdir(p, 0700), 0);
        free(q);
        free(p);
        p = path_of(f, "blobs/sha256/zz-not-fanout");
        assert_int_equal(mkdir(p, 0700), 0);
        free(p);

        scanned = 0;
        assert_int_equal(store_blob_scan(f->s, scan_blob_cb, NULL), 1);
        assert_int_equal(scanned, 1);
        assert_true(digest_equal(&scanned_digest, &d));
        assert_int_equal(scanned_size, 4);
        assert_int_equal(store_blob_scan(f->s, NULL, NULL), -EINVAL);
}

static time_t clock_now;
static time_t fixed_clock(void *userdata) {
        (void) userdata;
        return clock_now;
}

/* Scratch files a crash left under tmp/ go once they are old; young ones stay (a
 * put may be writing them). */
static void test_tmp_clean(void **state) {
        fixture_t *f = *state;
        char *p = path_of(f, "tmp/left-by-a-crash"), *d = path_of(f, "tmp/a-directory");
        struct stat st;
        FILE *fp = fopen(p, "w");

        assert_non_null(fp);
        fclose(fp);
        assert_int_equal(mkdir(d, 0700), 0);
        assert_int_equal(stat(p, &st), 0);
        clock_now = st.st_mtime + 10;
        store_set_clock(f->s, fixed_clock, NULL);
        assert_int_equal(store_tmp_clean(f->s, 60), 0);
        assert_int_equal(stat(p, &st), 0);
        clock_now += 60;
        assert_int_equal(store_tmp_clean(f->s, 60), 1);
        assert_int_equal(stat(p, &st), -1);
        assert_int_equal(stat(d, &st), 0); /* only regular files */
        assert_int_equal(store_tmp_clean(NULL, 60), -EINVAL);
        free(p);
        free(d);
}

/* A session file that is also linked elsewhere (a commit that crashed after linking
 * the blob and before removing the session) is never written again: acquire refuses
 * it and removes the session, and the linked file keeps its content. */
static void test_session_already_linked_is_dropped(void **state) {
        fixture_t *f = *state;
        char uuid[UPLOAD_UUID_LEN + 1], rel[300], *p, *other = path_of(f, "linked-elsewhere");
        struct stat st;
        upload_t *u;

        new_upload(f, DIGEST_SHA256, uuid, &u);
        assert_int_equal(fx_upload_write(u, "abc", 3), 0);
        store_upload_release(u);
        snprintf(rel, sizeof(rel), "uploads/%s", uuid);
        p = path_of(f, rel);
        assert_int_equal(link(p, other), 0);
        assert_int_equal(store_upload_acquire(f->s, uuid, &u), -ENOENT);
        assert_int_equal(stat(p, &st), -1);
        assert_int_equal(count_entries(f, "uploads"), 0);
        assert_int_equal(store__sessions_count(f->s), 0);
        assert_int_equal(stat(other, &st), 0);
        assert_int_equal(st.st_size, 3);
        assert_int_equal(store_upload_acquire(f->s, uuid, &u), -ENOENT);
        free(p);
        free(other);
}

/* A session whose file is not a regular file (a directory, a symbolic link, a FIFO)
 * is no session: -ENOENT, which the server answers 404 BLOB_UPLOAD_UNKNOWN (it was
 * -EISDIR or -ELOOP, a 500, for the first two). */
static void test_session_not_a_regular_file(void **state) {
        fixture_t *f = *state;
        char uuid[UPLOAD_UUID_LEN + 1], rel[300], *p, *target = path_of(f, "elsewhere");
        upload_t *u;

        new_upload(f, DIGEST_SHA256, uuid, &u);
        store_upload_release(u);
        snprintf(rel, sizeof(rel), "uploads/%s", uuid);
        p = path_of(f, rel);
        assert_int_equal(unlink(p), 0);
        assert_int_equal(mkdir(p, 0700), 0);
        assert_int_equal(store_upload_acquire(f->s, uuid, &u), -ENOENT);
        assert_int_equal(rmdir(p), 0);
        assert_int_equal(symlink(target, p), 0);
        assert_int_equal(store_upload_acquire(f->s, uuid, &u), -ENOENT);
        assert_int_equal(unlink(p), 0);
        assert_int_equal(mkfifo(p, 0600), 0);
        assert_int_equal(store_upload_acquire(f->s, uuid, &u), -ENOENT);
        free(p);
        free(target);
}

/* Bytes past the session's size (a partial write whose undo failed) are cut at
 * commit: the blob is what the session acknowledged. */
static void test_commit_cuts_bytes_past_size(void **state) {
        fixture_t *f = *state;
        char uuid[UPLOAD_UUID_LEN + 1], rel[300], *p, *back;
        digest_t d = DG("abc");
        uint64_t size = 0;
        upload_t *u;
        FILE *fp;

        new_upload(f, DIGEST_SHA256, uuid, &u);
        assert_int_equal(fx_upload_write(u, "abc", 3), 0);
        snprintf(rel, sizeof(rel), "uploads/%s", uuid);
        p = path_of(f, rel);
        fp = fopen(p, "a");
        assert_non_null(fp);
        assert_int_equal(fputs("garbage", fp) >= 0, 1);
        fclose(fp);
        assert_int_equal(upload_size(u), 3);
        assert_int_equal(upload_truncate(u, 3), 0); /* the size it has: nothing to do */
        assert_int_equal(upload_commit(u, &d, &size), 0);
        assert_int_equal(size, 3);
        store_upload_release(u);
        back = read_blob(f, &d, &size);
        assert_int_equal(size, 3);
        assert_memory_equal(back, "abc", 3);
        free(back);
        free(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
                T(test_put_stat_open_round_trip),
                T(test_put_wrong_digest_stores_nothing),
                T(test_put_twice_deduplicates),
                T(test_upload_of_existing_blob_deduplicates),
                T(test_blob_remove),
                T(test_upload_file_is_never_a_blob),
                T(test_upload_write_commit),
                T(test_commit_wrong_digest_leaves_session),
                T(test_async_writes_hash_in_order),
                T(test_rehash_at_commit_after_restart),
                T(test_rehash_at_write_after_restart),
                T(test_rehash_after_eviction),
                T(test_commit_sha512),
                T(test_sha512_session),
                T(test_truncate),
                T(test_delete),
                T(test_uuid_validation),
                T(test_busy_session_refuses_at_once),
                T(test_session_held_by_another_process),
                T(test_observer_hears_each_call),
                T(test_hash_state_carried_over_another_process_chunks),
                T(test_committed_size_after_another_process_wrote),
                T(test_busy_session_committed_size),
                T(test_delete_refuses_busy_session),
                T(test_holder_removes_session),
                T(test_large_upload_with_writeback),
                T(test_failed_write_leaves_session_consistent),
                T(test_scan_old),
                T(test_scan_old_skips_busy),
                T(test_put_over_file_size_limit),
                T(test_blob_not_a_regular_file),
                T(test_put_fanout_not_a_directory),
                T(test_open_refuses_files),
                T(test_blob_scan_skips_strangers),
                T(test_tmp_clean),
                T(test_session_already_linked_is_dropped),
                T(test_session_not_a_regular_file),
                T(test_commit_cuts_bytes_past_size),
#undef T
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
