/* tests/unit/test-server-faults.c: berthd's blob, upload and manifest handlers when
 * an allocation or a file system call fails (issue 17: the error paths no other test
 * reaches). The test binary is linked with -Wl,--wrap for the allocator and the file
 * system calls the server's code makes (libmicrohttpd, SQLite and jansson are shared
 * libraries and keep theirs), and makes the Nth such call on a server thread fail
 * (malloc: NULL with ENOMEM; write: ENOSPC; fsync: EIO; ...), for N = 1, 2, ... until
 * a request makes fewer calls than N. The test's own thread never fails.
 *
 * Each request under a fault must be answered with its normal success or with a 5xx
 * in the OCI error format (or, when even the answer cannot be made, the connection
 * closed: counted and allowed), never a 4xx that blames the client; the server must
 * go on serving; and what the request left must be whole: a blob or manifest is
 * there with its exact bytes or not there at all, an upload session reports the
 * bytes it holds, the same request succeeds once the fault is gone, and fsck finds
 * no blob row without its file, of a wrong size or with the wrong bytes. Under
 * AddressSanitizer this also finds what an error path leaks or uses after freeing.
 * With a gateway (BERTH_TEST_S3_*, the slow tier) the same runs on the S3 driver. */
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "storage/fsck.h"
#include "storage/s3.h"
#include "server-fixture.h"

/* ---- the faults ---- */

typedef enum { FAULT_NONE, FAULT_ALLOC, FAULT_IO } fault_kind_t;

static atomic_int fault_kind;
static atomic_long fault_left;  /* calls of fault_kind to let through before the one that fails */
static atomic_bool fault_fired;
static pthread_t test_thread;

/* Whether this call (of kind k) is the one to fail. */
static const char *_Atomic fault_what; /* the call that failed (for messages) */

static bool fault(fault_kind_t k, const char *what) {
        if (atomic_load(&fault_kind) != (int) k || pthread_equal(pthread_self(), test_thread))
                return false;
        if (atomic_fetch_sub(&fault_left, 1) != 0)
                return false;
        atomic_store(&fault_what, what);
        if (getenv("FAULT_TRACE")) { /* where each fault happened: addr2line -f -e THIS-BINARY ADDRESS */
                void *bt[12];
                int n = backtrace(bt, 12);
                fprintf(stderr, "---- fault in %s\n", what);
                backtrace_symbols_fd(bt, n, 2);
        }
        atomic_store(&fault_fired, true);
        return true;
}

static long fault_n; /* the call number of the last arming (for messages) */
static fault_kind_t sweep_kind; /* and its kind */

static void fault_arm(fixture_t *f, fault_kind_t k, long n) {
        /* what an earlier request left to the store's threads after its answer (a
         * replaced tail's removal, a failed upload's session removed: S3) ends
         * first, so that none of its calls counts for the request to come */
        store_quiesce(f->srv.store);
        fault_n = n;
        sweep_kind = k;
        atomic_store(&fault_fired, false);
        atomic_store(&fault_left, n);
        atomic_store(&fault_kind, (int) k);
}

/* Disarms; whether the fault happened. */
static bool fault_disarm(void) {
        atomic_store(&fault_kind, FAULT_NONE);
        return atomic_load(&fault_fired);
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_vasprintf(char **ret, const char *fmt, va_list ap);
ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __real_pwrite(int fd, const void *buf, size_t n, off_t off);
int __real_fsync(int fd);
int __real_fdatasync(int fd);
int __real_openat(int dir, const char *path, int flags, ...);
int __real_renameat(int a, const char *from, int b, const char *to);
int __real_linkat(int a, const char *from, int b, const char *to, int flags);
int __real_ftruncate(int fd, off_t len);
int __real_mkdirat(int dir, const char *path, mode_t mode);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_vasprintf(char **ret, const char *fmt, va_list ap);
int __wrap_asprintf(char **ret, const char *fmt, ...);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off);
int __wrap_fsync(int fd);
int __wrap_fdatasync(int fd);
int __wrap_openat(int dir, const char *path, int flags, ...);
int __wrap_renameat(int a, const char *from, int b, const char *to);
int __wrap_linkat(int a, const char *from, int b, const char *to, int flags);
int __wrap_ftruncate(int fd, off_t len);
int __wrap_mkdirat(int dir, const char *path, mode_t mode);

/* in __wrap_NAME: fail as NAME would, with errno err (__func__ + 7: NAME) */
#define FAIL_WITH(kind, err, val)                         \
        do {                                              \
                if (fault(kind, __func__ + 7)) {          \
                        errno = (err);                    \
                        return (val);                     \
                }                                         \
        } while (0)

void *__wrap_malloc(size_t n) {
        FAIL_WITH(FAULT_ALLOC, ENOMEM, NULL);
        return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t size) {
        FAIL_WITH(FAULT_ALLOC, ENOMEM, NULL);
        return __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n) {
        FAIL_WITH(FAULT_ALLOC, ENOMEM, NULL);
        return __real_realloc(p, n);
}
char *__wrap_strdup(const char *s) {
        FAIL_WITH(FAULT_ALLOC, ENOMEM, NULL);
        return __real_strdup(s);
}
char *__wrap_strndup(const char *s, size_t n) {
        FAIL_WITH(FAULT_ALLOC, ENOMEM, NULL);
        return __real_strndup(s, n);
}
int __wrap_vasprintf(char **ret, const char *fmt, va_list ap) {
        FAIL_WITH(FAULT_ALLOC, ENOMEM, -1);
        return __real_vasprintf(ret, fmt, ap);
}
int __wrap_asprintf(char **ret, const char *fmt, ...) {
        va_list ap;
        int r;

        FAIL_WITH(FAULT_ALLOC, ENOMEM, -1);
        va_start(ap, fmt);
        r = __real_vasprintf(ret, fmt, ap);
        va_end(ap);
        return r;
}
ssize_t __wrap_write(int fd, const void *buf, size_t n) {
        FAIL_WITH(FAULT_IO, ENOSPC, -1);
        return __real_write(fd, buf, n);
}
ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off) {
        FAIL_WITH(FAULT_IO, ENOSPC, -1);
        return __real_pwrite(fd, buf, n, off);
}
int __wrap_fsync(int fd) {
        FAIL_WITH(FAULT_IO, EIO, -1);
        return __real_fsync(fd);
}
int __wrap_fdatasync(int fd) {
        FAIL_WITH(FAULT_IO, EIO, -1);
        return __real_fdatasync(fd);
}
int __wrap_openat(int dir, const char *path, int flags, ...) {
        mode_t mode = 0;

        if (flags & (O_CREAT | O_TMPFILE)) {
                va_list ap;
                va_start(ap, flags);
                mode = va_arg(ap, mode_t);
                va_end(ap);
        }
        FAIL_WITH(FAULT_IO, (flags & O_ACCMODE) == O_RDONLY ? EMFILE : ENOSPC, -1);
        return __real_openat(dir, path, flags, mode);
}
int __wrap_renameat(int a, const char *from, int b, const char *to) {
        FAIL_WITH(FAULT_IO, ENOSPC, -1);
        return __real_renameat(a, from, b, to);
}
int __wrap_linkat(int a, const char *from, int b, const char *to, int flags) {
        FAIL_WITH(FAULT_IO, ENOSPC, -1);
        return __real_linkat(a, from, b, to, flags);
}
int __wrap_ftruncate(int fd, off_t len) {
        FAIL_WITH(FAULT_IO, EIO, -1);
        return __real_ftruncate(fd, len);
}
int __wrap_mkdirat(int dir, const char *path, mode_t mode) {
        FAIL_WITH(FAULT_IO, ENOSPC, -1);
        return __real_mkdirat(dir, path, mode);
}

/* ---- what every answer under a fault must be ---- */

typedef struct {
        unsigned runs;     /* requests made with a fault armed */
        unsigned fired;    /* ... in which the fault happened */
        unsigned errors;   /* ... answered with a 5xx */
        unsigned closed;   /* ... with the connection closed unanswered */
        unsigned cut;      /* ... with a 200 whose body stops short of its Content-Length */
} tally_t;

static bool fault_kind_of_n_is_conn(long n) {
        return sweep_kind == FAULT_ALLOC && n <= 1;
}

/* r: the answer to a request during which a fault may have fired; ok: its status
 * when it succeeds. */
#define STATUS_CUT 1000 /* check_answer's mark on an answer whose transfer was cut */

static void check_answer(resp_t *r, unsigned ok, bool fired, tally_t *t, const char *what, long n) {
        char v[32];

        t->runs++;
        t->fired += fired;
        if (r->status == ok && fired && strncmp(what, "manifest HEAD", 13) != 0 &&
            header(r, "Content-Length", v, sizeof(v)) && strtoull(v, NULL, 10) > r->body_len) {
                /* the body went out as it was read (S3: through a ring filled from
                 * the store) and the read failed midway: the transfer is cut, which
                 * the client sees as the failure it is; never a whole wrong body */
                t->cut++;
                r->status = STATUS_CUT;
                return;
        }
        if (r->status == ok)
                return;
        if (!fired)
                fail_msg("%s (call %ld, no fault): %u, want %u\n%s", what, n, r->status, ok, r->raw);
        if (r->status == 0) {
                /* even out of memory there is an answer (made at start); but the
                 * first two allocations, the connection's record and its address's
                 * count in the registry that enforces the connection limits, refuse
                 * the connection when they fail (server/conns.c: an untracked
                 * connection would escape the limits) */
                if (fault_kind_of_n_is_conn(n))
                        t->closed++;
                else
                        fail_msg("%s with call %ld (%s) failed: the connection closed unanswered", what, n,
                                 fault_what);
                return;
        }
        if (r->status < 500 || r->status > 599)
                fail_msg("%s with call %ld (%s) failed: %u (a fault of the server answered as the client's)\n%s",
                         what, n, fault_what, r->status, r->raw);
        if (r->raw && strncmp(what, "manifest HEAD", 13) != 0 && /* a HEAD answer has no body */
            (!strstr(r->body, "\"errors\"") || !strstr(r->body, "\"code\"")))
                fail_msg("%s with call %ld failed: %u without an OCI error body\n%s", what, n, r->status, r->raw);
        t->errors++;
}

/* One request with call n of kind k failing: its answer checked by check_answer;
 * *ret_fired: whether the fault happened. */
static resp_t faulted(fixture_t *f, fault_kind_t k, long n, const char *method, const char *path, const char *extra,
                      const void *body, size_t len, unsigned ok, tally_t *t, const char *what, bool *ret_fired) {
        resp_t r;

        fault_arm(f, k, n);
        r = http_io(f, method, path, extra, body, len, false);
        *ret_fired = fault_disarm();
        check_answer(&r, ok, *ret_fired, t, what, n);
        return r;
}

static void assert_serving(fixture_t *f) {
        resp_t r = http(f, "GET", "/v2/", NULL, NULL, 0);
        assert_int_equal(r.status, 200);
        resp_done(&r);
}

/* A blob is in repo with exactly data, or unknown there (present: which must hold). */
static bool blob_state(fixture_t *f, const char *repo, const digest_t *d, const char *data) {
        char path[512];
        resp_t r;
        bool there;

        snprintf(path, sizeof(path), "/v2/%s/blobs/%s", repo, d->str);
        r = http(f, "GET", path, NULL, NULL, 0);
        there = r.status == 200;
        if (!there)
                assert_code(&r, 404, "BLOB_UNKNOWN");
        else if (r.body_len != strlen(data) || memcmp(r.body, data, r.body_len) != 0)
                fail_msg("%s in %s: %zu bytes, not its own %zu (after call %ld, %s, failed)\n%s", d->str, repo,
                         r.body_len, strlen(data), fault_n, fault_what, r.raw);
        resp_done(&r);
        return there;
}

static void assert_fsck_clean(fixture_t *f) {
        fsck_options_t o = { .grace = 3600 };
        fsck_result_t res = { 0 };

        assert_int_equal(fsck_run(f->srv.store, server_db(&f->srv), &o, &res), 0);
        assert_int_equal(res.problems[FSCK_MISSING], 0);
        assert_int_equal(res.problems[FSCK_SIZE], 0);
        assert_int_equal(res.problems[FSCK_DIGEST], 0);
}

static void report(const char *what, fault_kind_t k, const tally_t *t) {
        print_message("%-34s %-5s %4u runs, %4u faults, %4u answered 5xx, %3u closed, %u cut\n", what,
                      k == FAULT_ALLOC ? "alloc" : "io", t->runs, t->fired, t->errors, t->closed, t->cut);
}

#define MAX_CALLS 5000 /* a request making more calls than this is a test bug */

/* ---- the requests ---- */

static void blob_digest(const char *data, digest_t *d) {
        assert_int_equal(digest_buf(DIGEST_SHA256, data, strlen(data), d), 0);
}

/* A monolithic push (POST ?digest= with the body), a new blob each time. */
static void sweep_monolithic(fixture_t *f, fault_kind_t k) {
        tally_t t = { 0 };
        long n;

        for (n = 0; n < MAX_CALLS; n++) {
                char data[64], path[512];
                digest_t d;
                bool fired;
                resp_t r;

                snprintf(data, sizeof(data), "monolithic %d %ld", k, n);
                blob_digest(data, &d);
                snprintf(path, sizeof(path), "/v2/f/mono/blobs/uploads/?digest=%s", d.str);
                r = faulted(f, k, n, "POST", path, "Content-Type: application/octet-stream\r\n", data,
                            strlen(data), 201, &t, "monolithic POST", &fired);
                resp_done(&r);
                assert_serving(f);
                /* there whole, or not at all; and the same push works now */
                if (!blob_state(f, "f/mono", &d, data)) {
                        r = http(f, "POST", path, "Content-Type: application/octet-stream\r\n", data, strlen(data));
                        assert_int_equal(r.status, 201);
                        resp_done(&r);
                        assert_true(blob_state(f, "f/mono", &d, data));
                }
                if (!fired)
                        break;
        }
        assert_true(n < MAX_CALLS);
        report("monolithic POST", k, &t);
        assert_fsck_clean(f);
}

/* The Range an upload session reports (its size), or -1 when it is unknown. */
static long session_size(fixture_t *f, const char *loc) {
        char v[64];
        resp_t r = http(f, "GET", loc, NULL, NULL, 0);
        long size = -1;

        if (r.status == 204) {
                assert_non_null(header(&r, "Range", v, sizeof(v)));
                assert_int_equal(sscanf(v, "0-%ld", &size), 1);
                if (size > 0) /* "0-0" is how an empty session is told (the chunks here are longer) */
                        size++;
        } else {
                assert_code(&r, 404, "BLOB_UPLOAD_UNKNOWN");
        }
        resp_done(&r);
        return size;
}

/* A chunked upload: POST, PATCH, PATCH, PUT ?digest=, the fault in step `step`;
 * the steps after it go on as a client would (starting again when the session
 * is lost). */
static void sweep_chunked_step(fixture_t *f, fault_kind_t k, int step, const char *const chunks[2],
                               const char *name) {
        _cleanup_free_ char *whole = NULL;
        tally_t t = { 0 };
        long n;

        assert_true(asprintf(&whole, "%s%s", chunks[0], chunks[1]) > 0);
        for (n = 0; n < MAX_CALLS; n++) {
                char repo[64], loc[300] = "", path[600], v[300];
                digest_t d;
                bool fired = false;
                resp_t r;
                long size;

                /* each round its own repository: the blob is new there */
                snprintf(repo, sizeof(repo), "f/chunk%d-%d-%ld", k, step, n);
                blob_digest(whole, &d);
                snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/", repo);
                if (step == 0)
                        fault_arm(f, k, n);
                r = http_io(f, "POST", path, NULL, NULL, 0, step != 0);
                if (step == 0) {
                        fired = fault_disarm();
                        check_answer(&r, 202, fired, &t, name, n);
                }
                if (r.status != 202) { /* the session was not made: nothing to go on with */
                        resp_done(&r);
                        assert_serving(f);
                        assert_false(blob_state(f, repo, &d, whole));
                        continue;
                }
                assert_non_null(header(&r, "Location", loc, sizeof(loc)));
                resp_done(&r);
                size = 0;
                for (int c = 0; c < 2; c++) {
                        bool armed = step == c + 1;
                        const char *chunk = chunks[c];
                        char range[128];

                        snprintf(range, sizeof(range), "Content-Type: application/octet-stream\r\n"
                                                       "Content-Range: %ld-%zu\r\n", size, size + strlen(chunk) - 1);
                        if (armed)
                                fault_arm(f, k, n);
                        r = http_io(f, "PATCH", loc, range, chunk, strlen(chunk), !armed);
                        if (armed) {
                                fired = fault_disarm();
                                check_answer(&r, 202, fired, &t, name, n);
                        } else {
                                assert_int_equal(r.status, 202);
                        }
                        resp_done(&r);
                        if (armed) {
                                /* the session holds what it held, or the chunk too */
                                long now = session_size(f, loc);
                                if (now != size && now != size + (long) strlen(chunk) && now != -1)
                                        fail_msg("%s, call %ld: the session holds %ld bytes after a PATCH of %zu "
                                                 "onto %ld", name, n, now, strlen(chunk), size);
                                if (now == -1) /* lost: no blob, and the client starts again */
                                        goto done;
                                if (now == size) { /* the client sends the chunk again */
                                        r = http(f, "PATCH", loc, range, chunk, strlen(chunk));
                                        if (r.status != 202)
                                                fail_msg("%s, call %ld: the PATCH again: %u\n%s", name, n, r.status,
                                                         r.raw);
                                        resp_done(&r);
                                }
                        }
                        size += (long) strlen(chunk);
                }
                snprintf(path, sizeof(path), "%s%cdigest=%s", loc, strchr(loc, '?') ? '&' : '?', d.str);
                if (step == 3)
                        fault_arm(f, k, n);
                r = http_io(f, "PUT", path, NULL, NULL, 0, step != 3);
                if (step == 3) {
                        fired = fault_disarm();
                        check_answer(&r, 201, fired, &t, name, n);
                } else {
                        assert_int_equal(r.status, 201);
                }
                if (r.status == 201) {
                        assert_string_equal(header(&r, "Docker-Content-Digest", v, sizeof(v)), d.str);
                        resp_done(&r);
                        assert_serving(f);
                        assert_true(blob_state(f, repo, &d, whole));
                        assert_int_equal(session_size(f, loc), -1); /* the session is over */
                } else {
                        resp_done(&r);
                        assert_serving(f);
                        /* not committed: the blob whole or not there, and the PUT
                         * done again works when the session is still there */
                        if (!blob_state(f, repo, &d, whole) && session_size(f, loc) == size) {
                                r = http(f, "PUT", path, NULL, NULL, 0);
                                assert_int_equal(r.status, 201);
                                resp_done(&r);
                                assert_true(blob_state(f, repo, &d, whole));
                        }
                }
        done:
                assert_serving(f);
                if (!fired)
                        break;
        }
        assert_true(n < MAX_CALLS);
        report(name, k, &t);
        assert_fsck_clean(f);
}

static void sweep_chunked(fixture_t *f, fault_kind_t k) {
        static const char *const small[] = { "first chunk of the blob, ", "the second one" };
        /* a PATCH of three of the server's write buffers (server/blobs.c WC_SIZE),
         * written while the body still arrives */
        size_t big_len = 3 * 512 * 1024 + 1000;
        _cleanup_free_ char *big = malloc(big_len + 1);

        assert_non_null(big);
        for (size_t i = 0; i < big_len; i++)
                big[i] = (char) ('a' + (i * 7 + i / 4096) % 26);
        big[big_len] = '\0';
        const char *const large[] = { big, "and a short end" };

        sweep_chunked_step(f, k, 0, small, "chunked: POST");
        sweep_chunked_step(f, k, 1, small, "chunked: first PATCH");
        sweep_chunked_step(f, k, 2, small, "chunked: second PATCH");
        sweep_chunked_step(f, k, 3, small, "chunked: PUT ?digest=");
        sweep_chunked_step(f, k, 1, large, "chunked: PATCH of 1.5 MiB");
}

/* A manifest PUT by tag (a new tag each time), then a GET and a HEAD of it and
 * its config blob, and a tag listing, each under the fault. */
static void sweep_manifests(fixture_t *f, fault_kind_t k) {
        tally_t tp = { 0 }, tg = { 0 }, th = { 0 }, tl = { 0 }, tb = { 0 }, tn = { 0 };
        digest_t cfg, m;
        char *img;
        long n;

        push_blob(f, "f/man", "{}", &cfg);
        img = NULL; /* round 0's manifest: the one the reads below ask for */
        for (n = 0; n < MAX_CALLS; n++) {
                char path[512], tag[64], v[300], *body = NULL;
                bool fired;
                resp_t r;

                /* a new manifest each round (its annotation): nothing is deduplicated */
                assert_true(asprintf(&body,
                                     "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                                     "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                                     "\"digest\":\"%s\",\"size\":2},\"layers\":[],"
                                     "\"annotations\":{\"round\":\"%d-%ld\"}}",
                                     cfg.str, k, n) > 0);
                assert_int_equal(digest_buf(DIGEST_SHA256, body, strlen(body), &m), 0);
                snprintf(tag, sizeof(tag), "t%d-%ld", k, n);
                snprintf(path, sizeof(path), "/v2/f/man/manifests/%s", tag);
                r = faulted(f, k, n, "PUT", path, "Content-Type: " MT_OCI_MANIFEST "\r\n", body, strlen(body), 201, &tp,
                            "manifest PUT", &fired);
                resp_done(&r);
                assert_serving(f);
                /* the tag names the manifest with its exact bytes, or is unknown */
                r = http(f, "GET", path, "Accept: " MT_OCI_MANIFEST "\r\n", NULL, 0);
                if (r.status == 200) {
                        assert_true(r.body_len == strlen(body) && memcmp(r.body, body, r.body_len) == 0);
                        assert_string_equal(header(&r, "Docker-Content-Digest", v, sizeof(v)), m.str);
                } else {
                        assert_code(&r, 404, "MANIFEST_UNKNOWN");
                        resp_done(&r);
                        r = http(f, "PUT", path, "Content-Type: " MT_OCI_MANIFEST "\r\n", body, strlen(body));
                        assert_int_equal(r.status, 201);
                }
                resp_done(&r);
                if (n == 0)
                        img = body;
                else
                        free(body);
                if (!fired)
                        break;
        }
        assert_true(n < MAX_CALLS);
        report("manifest PUT", k, &tp);

        /* the reads: an answer or a 5xx, and nothing changed by them */
        struct {
                const char *method, *path, *accept, *what;
                unsigned ok;
                tally_t *t;
        } reads[] = {
                { "GET", NULL, "Accept: " MT_OCI_MANIFEST "\r\n", "manifest GET", 200, &tg },
                { "HEAD", NULL, "Accept: " MT_OCI_MANIFEST "\r\n", "manifest HEAD", 200, &th },
                { "GET", "/v2/f/man/tags/list?n=5", NULL, "tag list", 200, &tl },
                { "GET", NULL, NULL, "blob GET", 200, &tb },
                /* an index asked for by a client that takes only image manifests:
                 * the index is read to answer with its linux/amd64 manifest */
                { "GET", "/v2/f/man/manifests/multi", "Accept: " MT_OCI_MANIFEST "\r\n", "index GET, negotiated", 200,
                  &tn },
        };
        digest_t first, index;
        char *idx = NULL;
        assert_int_equal(digest_buf(DIGEST_SHA256, img, strlen(img), &first), 0);
        idx = index_of(&first, strlen(img));
        push_manifest(f, "f/man", "multi", MT_OCI_INDEX, idx, &index);
        free(idx);
        char blob_path[512];
        snprintf(blob_path, sizeof(blob_path), "/v2/f/man/blobs/%s", cfg.str);
        char tag_path[512];
        snprintf(tag_path, sizeof(tag_path), "/v2/f/man/manifests/t%d-0", k);
        reads[0].path = reads[1].path = tag_path;
        reads[3].path = blob_path;
        for (size_t i = 0; i < ELEMENTSOF(reads); i++) {
                for (n = 0; n < MAX_CALLS; n++) {
                        bool fired;
                        resp_t r;

                        r = faulted(f, k, n, reads[i].method, reads[i].path, reads[i].accept, NULL, 0, reads[i].ok,
                                    reads[i].t, reads[i].what, &fired);
                        if (r.status == 200 && (i == 0 || i == 4)) /* the platform's manifest for the index */
                                assert_true(r.body_len == strlen(img) && memcmp(r.body, img, r.body_len) == 0);
                        if (r.status == 200 && i == 3)
                                assert_true(r.body_len == 2 && memcmp(r.body, "{}", 2) == 0);
                        resp_done(&r);
                        assert_serving(f);
                        if (!fired)
                                break;
                }
                assert_true(n < MAX_CALLS);
                report(reads[i].what, k, reads[i].t);
        }
        assert_true(blob_state(f, "f/man", &cfg, "{}"));
        free(img);
        assert_fsck_clean(f);
}

/* DELETE of a manifest by digest and of a blob: gone, or still there whole; the
 * delete done again works. A new manifest (by its annotation) each round. */
static void sweep_deletes(fixture_t *f, fault_kind_t k) {
        tally_t tm = { 0 }, tb = { 0 };
        digest_t cfg;
        long n;

        push_blob(f, "f/del", "{}", &cfg);
        for (n = 0; n < MAX_CALLS; n++) {
                char body[512], path[512];
                digest_t m;
                bool fired;
                resp_t r;

                snprintf(body, sizeof(body),
                         "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                         "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                         "\"digest\":\"%s\",\"size\":2},\"layers\":[],\"annotations\":{\"round\":\"%d-%ld\"}}",
                         cfg.str, k, n);
                push_manifest(f, "f/del", "current", MT_OCI_MANIFEST, body, &m);
                snprintf(path, sizeof(path), "/v2/f/del/manifests/%s", m.str);
                r = faulted(f, k, n, "DELETE", path, NULL, NULL, 0, 202, &tm, "manifest DELETE", &fired);
                resp_done(&r);
                assert_serving(f);
                r = http(f, "GET", path, "Accept: " MT_OCI_MANIFEST "\r\n", NULL, 0);
                if (r.status == 200) { /* still there, whole: deleting it again works */
                        assert_true(r.body_len == strlen(body) && memcmp(r.body, body, r.body_len) == 0);
                        resp_done(&r);
                        r = http(f, "DELETE", path, NULL, NULL, 0);
                        assert_int_equal(r.status, 202);
                } else {
                        assert_code(&r, 404, "MANIFEST_UNKNOWN");
                }
                resp_done(&r);
                if (!fired)
                        break;
        }
        assert_true(n < MAX_CALLS);
        report("manifest DELETE", k, &tm);

        for (n = 0; n < MAX_CALLS; n++) {
                char data[64], path[512];
                digest_t d;
                bool fired;
                resp_t r;

                snprintf(data, sizeof(data), "to delete %d %ld", k, n);
                push_blob(f, "f/del", data, &d);
                snprintf(path, sizeof(path), "/v2/f/del/blobs/%s", d.str);
                r = faulted(f, k, n, "DELETE", path, NULL, NULL, 0, 202, &tb, "blob DELETE", &fired);
                resp_done(&r);
                assert_serving(f);
                if (blob_state(f, "f/del", &d, data)) {
                        r = http(f, "DELETE", path, NULL, NULL, 0);
                        assert_int_equal(r.status, 202);
                        resp_done(&r);
                        assert_false(blob_state(f, "f/del", &d, data));
                }
                if (!fired)
                        break;
        }
        assert_true(n < MAX_CALLS);
        report("blob DELETE", k, &tb);
        assert_fsck_clean(f);
}

/* A mount from another repository (POST ?mount=&from=). */
static void sweep_mount(fixture_t *f, fault_kind_t k) {
        tally_t t = { 0 };
        digest_t d;
        long n;

        push_blob(f, "f/src", "mounted bytes", &d);
        for (n = 0; n < MAX_CALLS; n++) {
                char repo[64], path[512];
                bool fired;
                resp_t r;

                snprintf(repo, sizeof(repo), "f/mnt%d-%ld", k, n);
                snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/?mount=%s&from=f/src", repo, d.str);
                fault_arm(f, k, n);
                r = http_io(f, "POST", path, NULL, NULL, 0, false);
                fired = fault_disarm();
                /* 201: mounted; 202: a session instead (allowed by the spec) */
                if (r.status == 202)
                        r.status = 201;
                check_answer(&r, 201, fired, &t, "mount", n);
                resp_done(&r);
                assert_serving(f);
                blob_state(f, repo, &d, "mounted bytes");
                if (!fired)
                        break;
        }
        assert_true(n < MAX_CALLS);
        report("mount", k, &t);
        assert_fsck_clean(f);
}

/* ---- the tests ---- */

static void test_allocation_failures(void **state) {
        fixture_t *f = *state;

        sweep_monolithic(f, FAULT_ALLOC);
        sweep_chunked(f, FAULT_ALLOC);
        sweep_manifests(f, FAULT_ALLOC);
        sweep_deletes(f, FAULT_ALLOC);
        sweep_mount(f, FAULT_ALLOC);
}

static void test_file_system_failures(void **state) {
        fixture_t *f = *state;

        sweep_monolithic(f, FAULT_IO);
        sweep_chunked(f, FAULT_IO);
        sweep_manifests(f, FAULT_IO);
        sweep_deletes(f, FAULT_IO);
        sweep_mount(f, FAULT_IO);
}

/* The same on the S3 driver, against the gateway of BERTH_TEST_S3_* (the slow tier's),
 * in a bucket of the test's own; without one the cases skip. Allocations of the
 * driver and of storage/mpupload.c fail too (the sender threads' among them; the
 * transfers are libcurl's). */
static int setup_s3(void **state) {
        char bucket[64], url[512];
        blobstore_t *bs = NULL;
        const char *detail;
        int r = fx_s3_bucket("berth-faults", "f", bucket, sizeof(bucket), url, sizeof(url));

        *state = NULL;
        if (r <= 0)
                return r; /* 0: no gateway, the cases skip */
        if (s3_blobstore_open(url, NULL, &bs, &detail) < 0)
                return -1;
        return setup_driver(state, NULL, bs);
}

static int teardown_s3(void **state) {
        return *state ? teardown(state) : 0;
}

static void test_allocation_failures_s3(void **state) {
        if (!*state)
                skip();
        test_allocation_failures(state);
}

static void test_file_system_failures_s3(void **state) {
        if (!*state)
                skip();
        test_file_system_failures(state);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_allocation_failures, setup, teardown),
                cmocka_unit_test_setup_teardown(test_file_system_failures, setup, teardown),
                cmocka_unit_test_setup_teardown(test_allocation_failures_s3, setup_s3, teardown_s3),
                cmocka_unit_test_setup_teardown(test_file_system_failures_s3, setup_s3, teardown_s3),
        };
        test_thread = pthread_self();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
