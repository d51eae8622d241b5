/* tests/unit/test-s3-http.c: the S3 driver (storage/s3.c) against a scripted HTTP
 * server on 127.0.0.1, for the answers a real gateway rarely gives on demand: 5xx,
 * SlowDown and 429 retried with back-off (and given up after the last attempt), 4xx
 * never retried and mapped to errno values, an <Error> inside a 200 (CopyObject,
 * CompleteMultipartUpload), a body cut short, a body longer than asked for, a
 * connection closed without an answer, malformed XML, multipart uploads aborted when a
 * part fails. The happy paths against a real gateway are tests/integration/s3.sh
 * (Ceph RGW). Each answer is sent with "Connection: close": one request per
 * connection, taken in order. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "common/err.h"
#include "storage/blobstore.h"
#include "storage/s3.h"

#define HEX "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" /* sha256("hello") */
#define KEY "/bkt/pfx/blobs/sha256/" HEX
#define MAX_STEPS 16

/* One scripted answer. */
typedef struct {
        int status;       /* 0: close the connection without answering */
        const char *head; /* extra header lines, each ending in \r\n, or NULL */
        const char *body; /* NULL: none */
        long declared;    /* Content-Length sent when >= 0 and not 0 (else strlen(body)) */
} step_t;

/* What a request asked. */
typedef struct {
        char method[8];
        char target[1024]; /* path and query */
        char copy_source[512];
        char range[64];
        char sha[80];
        char token[64];
        size_t body_len;
        char body[2048];
} seen_t;

typedef struct {
        int lfd;
        int port;
        pthread_t th;
        pthread_mutex_t lock;
        step_t steps[MAX_STEPS];
        int n_steps, next;
        seen_t seen[MAX_STEPS];
        bool stop;
} srv_t;

static srv_t S;

static void header_value(const char *head, const char *name, char *out, size_t n) {
        size_t nl = strlen(name);
        const char *p = head;

        out[0] = '\0';
        while ((p = strstr(p, "\r\n"))) {
                p += 2;
                if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
                        const char *v = p + nl + 1, *e = strstr(v, "\r\n");
                        while (*v == ' ')
                                v++;
                        snprintf(out, n, "%.*s", (int) (e - v), v);
                        return;
                }
        }
}

static void serve_one(int fd) {
        char buf[65536];
        size_t len = 0;
        char *end = NULL, cl[32], out[4096];
        size_t want;
        step_t st = { .status = 500, .body = "<Error><Code>NotScripted</Code></Error>" };
        seen_t *sn = NULL;
        int k;

        while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
                ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
                if (n <= 0)
                        return;
                len += (size_t) n;
        }
        buf[len] = '\0';
        *end = '\0';
        header_value(buf, "Content-Length", cl, sizeof(cl));
        want = cl[0] ? strtoul(cl, NULL, 10) : 0;
        /* the body: what fits kept, the rest (a multipart part) counted and dropped */
        for (size_t got = len - (size_t) (end + 4 - buf); got < want;) {
                char sink[65536];
                bool keep = len < sizeof(buf) - 1;
                ssize_t n = keep ? read(fd, buf + len, sizeof(buf) - 1 - len) : read(fd, sink, sizeof(sink));
                if (n <= 0)
                        return;
                got += (size_t) n;
                if (keep)
                        len += (size_t) n;
        }
        pthread_mutex_lock(&S.lock);
        if (S.next < MAX_STEPS) {
                sn = &S.seen[S.next];
                if (S.next < S.n_steps)
                        st = S.steps[S.next];
        }
        S.next++;
        pthread_mutex_unlock(&S.lock);
        if (sn) {
                sscanf(buf, "%7s %1023s", sn->method, sn->target);
                header_value(buf, "x-amz-copy-source", sn->copy_source, sizeof(sn->copy_source));
                header_value(buf, "Range", sn->range, sizeof(sn->range));
                header_value(buf, "x-amz-content-sha256", sn->sha, sizeof(sn->sha));
                header_value(buf, "x-amz-security-token", sn->token, sizeof(sn->token));
                sn->body_len = want;
                snprintf(sn->body, sizeof(sn->body), "%.*s", (int) (want < sizeof(sn->body) ? want : 0), end + 4);
        }
        if (st.status == 0)
                return; /* the caller closes: no answer at all */
        k = snprintf(out, sizeof(out), "HTTP/1.1 %d X\r\nConnection: close\r\n%sContent-Length: %ld\r\n\r\n%s",
                     st.status, st.head ? st.head : "",
                     st.declared > 0 ? st.declared : (long) (st.body ? strlen(st.body) : 0),
                     strcmp(sn ? sn->method : "", "HEAD") == 0 || !st.body ? "" : st.body);
        if (write(fd, out, (size_t) k) != k)
                return;
}

static void *server_main(void *arg) {
        (void) arg;
        for (;;) {
                struct pollfd p = { .fd = S.lfd, .events = POLLIN };
                int fd;
                bool stop;

                pthread_mutex_lock(&S.lock);
                stop = S.stop;
                pthread_mutex_unlock(&S.lock);
                if (stop)
                        return NULL;
                if (poll(&p, 1, 50) <= 0)
                        continue;
                fd = accept(S.lfd, NULL, NULL);
                if (fd < 0)
                        continue;
                serve_one(fd);
                shutdown(fd, SHUT_WR);
                close(fd);
        }
}

static void script(const step_t *steps, int n) {
        assert_true(n <= MAX_STEPS);
        pthread_mutex_lock(&S.lock);
        memcpy(S.steps, steps, sizeof(*steps) * (size_t) n);
        S.n_steps = n;
        S.next = 0;
        memset(S.seen, 0, sizeof(S.seen));
        pthread_mutex_unlock(&S.lock);
}

static int requests(void) {
        int n;
        pthread_mutex_lock(&S.lock);
        n = S.next;
        pthread_mutex_unlock(&S.lock);
        return n;
}

static blobstore_t *open_store(void) {
        char url[128];
        blobstore_t *bs = NULL;
        const char *detail = NULL;

        snprintf(url, sizeof(url), "s3://bkt/pfx?endpoint=http://127.0.0.1:%d", S.port);
        assert_int_equal(s3_blobstore_open(url, NULL, &bs, &detail), 0);
        return bs;
}

static int setup(void **state) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t al = sizeof(a);

        memset(&S, 0, sizeof(S));
        pthread_mutex_init(&S.lock, NULL);
        unsetenv("BERTH_S3_CREDENTIALS_FILE");
        unsetenv("AWS_SESSION_TOKEN");
        setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
        setenv("AWS_SECRET_ACCESS_KEY", "secret/TEST", 1);
        S.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (S.lfd < 0 || bind(S.lfd, (struct sockaddr *) &a, sizeof(a)) < 0 || listen(S.lfd, 16) < 0 ||
            getsockname(S.lfd, (struct sockaddr *) &a, &al) < 0)
                return -1;
        S.port = ntohs(a.sin_port);
        if (pthread_create(&S.th, NULL, server_main, NULL) != 0)
                return -1;
        *state = open_store();
        return 0;
}

static int teardown(void **state) {
        blobstore_t *bs = *state;

        bs->ops->free(bs);
        pthread_mutex_lock(&S.lock);
        S.stop = true;
        pthread_mutex_unlock(&S.lock);
        pthread_join(S.th, NULL);
        close(S.lfd);
        pthread_mutex_destroy(&S.lock);
        return 0;
}

static digest_t blob(void) {
        digest_t d;
        assert_int_equal(digest_parse("sha256:" HEX, &d), 0);
        return d;
}

/* answers: a status alone, with a body, with header lines, with a declared length */
#define A(st) { .status = (st) }
#define AB(st, b) { .status = (st), .body = (b) }
#define AH(st, h) { .status = (st), .head = (h) }
#define AL(st, n) { .status = (st), .declared = (n) }
#define ABL(st, b, n) { .status = (st), .body = (b), .declared = (n) }

#define SLOW "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>"
#define INTERNAL "<Error><Code>InternalError</Code></Error>"

/* 500, then 503 SlowDown, then 429: each tried again; the fourth answer counts */
static void test_retry_5xx(void **state) {
        blobstore_t *bs = *state;
        digest_t d = blob();
        uint64_t size = 0;

        script((step_t[]) { AB(500, INTERNAL), AB(503, SLOW), AB(429, NULL),
                            AL(200, 42) },
               4);
        assert_int_equal(bs->ops->stat(bs, &d, &size), 1);
        assert_int_equal(size, 42);
        assert_int_equal(requests(), 4);
        for (int i = 0; i < 4; i++) {
                assert_string_equal(S.seen[i].method, "HEAD");
                assert_string_equal(S.seen[i].target, KEY);
        }
}

/* SlowDown is retried whatever the status it comes with */
static void test_slowdown_code(void **state) {
        blobstore_t *bs = *state;
        digest_t d = blob();

        script((step_t[]) { AB(400, SLOW), AB(204, NULL) }, 2);
        assert_int_equal(bs->ops->trash_purge(bs, &d), 0);
        assert_int_equal(requests(), 2);
        assert_string_equal(S.seen[1].method, "DELETE");
        assert_string_equal(S.seen[1].target, "/bkt/pfx/trash/sha256-" HEX);
}

/* 5xx on every attempt: the store is down, after six tries and no more */
static void test_give_up(void **state) {
        blobstore_t *bs = *state;
        digest_t d = blob();
        step_t s[7];

        for (int i = 0; i < 6; i++)
                s[i] = (step_t) AB(503, SLOW);
        s[6] = (step_t) A(200);
        script(s, 7);
        assert_int_equal(bs->ops->stat(bs, &d, NULL), BERTH_ESTOREDOWN);
        assert_int_equal(requests(), 6);
}

/* 4xx: one request, mapped (403 -EACCES, 401 -EACCES, 404 -ENOENT, 400 -EIO) */
static void test_4xx_not_retried(void **state) {
        blobstore_t *bs = *state;
        digest_t d = blob();
        char buf[16];
        size_t n = 99;

        script((step_t[]) { AB(403, "<Error><Code>AccessDenied</Code></Error>"), A(200) }, 2);
        assert_int_equal(bs->ops->stat(bs, &d, NULL), -EACCES);
        assert_int_equal(requests(), 1);

        script((step_t[]) { A(401), A(200) }, 2);
        assert_int_equal(bs->ops->trash_purge(bs, &d), -EACCES);
        assert_int_equal(requests(), 1);

        script((step_t[]) { AB(404, "<Error><Code>NoSuchKey</Code></Error>"), A(200) }, 2);
        assert_int_equal(bs->ops->read(bs, &d, 0, buf, sizeof(buf), &n), -ENOENT);
        assert_int_equal(requests(), 1);
        assert_string_equal(S.seen[0].range, "bytes=0-15");

        script((step_t[]) { AB(400, "<Error><Code>InvalidArgument</Code></Error>"), A(200) }, 2);
        assert_int_equal(bs->ops->read(bs, &d, 4, buf, sizeof(buf), &n), -EIO);
        assert_int_equal(requests(), 1);

        /* absent: HEAD's 404 is "no such blob", not an error */
        script((step_t[]) { A(404) }, 1);
        assert_int_equal(bs->ops->stat(bs, &d, NULL), 0);
        script((step_t[]) { A(404) }, 1);
        assert_int_equal(bs->ops->remove(bs, &d), -ENOENT);
        assert_int_equal(requests(), 1);
}

/* reads: 416 is the end of the blob; a body cut short is tried again; a body longer
 * than asked for fails at once; a connection closed unanswered is tried again */
static void test_read_answers(void **state) {
        blobstore_t *bs = *state;
        digest_t d = blob();
        char buf[10];
        size_t n = 99;

        script((step_t[]) { A(416) }, 1);
        assert_int_equal(bs->ops->read(bs, &d, 100, buf, sizeof(buf), &n), 0);
        assert_int_equal(n, 0);
        assert_string_equal(S.seen[0].range, "bytes=100-109");

        script((step_t[]) { ABL(206, "01234", 10), A(0), AB(206, "0123456789") }, 3);
        assert_int_equal(bs->ops->read(bs, &d, 0, buf, sizeof(buf), &n), 0);
        assert_int_equal(n, 10);
        assert_memory_equal(buf, "0123456789", 10);
        assert_int_equal(requests(), 3);

        script((step_t[]) { AB(200, "0123456789abcdef"), AB(206, "0123456789") }, 2);
        assert_int_equal(bs->ops->read(bs, &d, 0, buf, sizeof(buf), &n), -EIO);
        assert_int_equal(requests(), 1);

        n = 99;
        assert_int_equal(bs->ops->read(bs, &d, 0, buf, 0, &n), 0);
        assert_int_equal(n, 0);
}

/* a server-side copy that fails inside its 200 is tried again (trash: HEAD, copy,
 * delete of the source) */
static void test_error_inside_200(void **state) {
        blobstore_t *bs = *state;
        digest_t d = blob();
        char name[256];

        script((step_t[]) { AL(200, 5),
                            AB(200, INTERNAL),
                            AB(200, "<CopyObjectResult><ETag>&quot;e&quot;</ETag></CopyObjectResult>"),
                            A(204) },
               4);
        assert_int_equal(bs->ops->trash(bs, &d), 0);
        assert_int_equal(requests(), 4);
        assert_string_equal(S.seen[1].method, "PUT");
        assert_string_equal(S.seen[1].target, "/bkt/pfx/trash/sha256-" HEX);
        assert_string_equal(S.seen[1].copy_source, KEY);
        assert_string_equal(S.seen[2].copy_source, KEY);
        assert_string_equal(S.seen[3].method, "DELETE");
        assert_string_equal(S.seen[3].target, KEY);

        /* quarantine: the copy refused: the source stays (no DELETE) */
        script((step_t[]) { AL(200, 5), AB(403, "<Error><Code>AccessDenied</Code></Error>") }, 2);
        assert_int_equal(bs->ops->quarantine(bs, &d, 1000, name, sizeof(name)), -EACCES);
        assert_int_equal(requests(), 2);

        script((step_t[]) { AL(200, 5), AB(200, "<CopyObjectResult/>"), A(204) }, 3);
        assert_int_equal(bs->ops->quarantine(bs, &d, 1000, name, sizeof(name)), 0);
        assert_string_equal(name, "s3://bkt/pfx/quarantine/sha256-" HEX "-1000");

        /* untrash: the blob placed again meanwhile is kept (no copy), the trash copy goes */
        script((step_t[]) { AL(200, 5), A(204) }, 2);
        assert_int_equal(bs->ops->untrash(bs, &d), 0);
        assert_int_equal(requests(), 2);
        assert_string_equal(S.seen[1].method, "DELETE");
        assert_string_equal(S.seen[1].target, "/bkt/pfx/trash/sha256-" HEX);
}

/* untrash of a blob absent from the blob namespace: copied back from the trash, then
 * the trash copy deleted; remove of a present blob: HEAD, DELETE */
static void test_untrash_and_remove(void **state) {
        blobstore_t *bs = *state;
        digest_t d = blob();

        script((step_t[]) { A(404), AB(200, "<CopyObjectResult/>"), A(204) }, 3);
        assert_int_equal(bs->ops->untrash(bs, &d), 0);
        assert_int_equal(requests(), 3);
        assert_string_equal(S.seen[1].method, "PUT");
        assert_string_equal(S.seen[1].target, KEY);
        assert_string_equal(S.seen[1].copy_source, "/bkt/pfx/trash/sha256-" HEX);
        assert_string_equal(S.seen[2].method, "DELETE");
        assert_string_equal(S.seen[2].target, "/bkt/pfx/trash/sha256-" HEX);

        /* the copy back refused: the trash copy stays */
        script((step_t[]) { A(404), A(403), A(204) }, 3);
        assert_int_equal(bs->ops->untrash(bs, &d), -EACCES);
        assert_int_equal(requests(), 2);

        script((step_t[]) { AL(200, 5), A(204) }, 2);
        assert_int_equal(bs->ops->remove(bs, &d), 0);
        assert_int_equal(requests(), 2);
        assert_string_equal(S.seen[1].method, "DELETE");
        assert_string_equal(S.seen[1].target, KEY);
}

/* temporary credentials: the session token goes with every request (signed) and into
 * presigned URLs; a presigned URL names the blob's key on the endpoint */
static void test_session_token_and_presign(void **state) {
        blobstore_t *bs = *state, *tb = NULL;
        digest_t d = blob();
        char *url = NULL, want[256];

        assert_int_equal(bs->ops->presign(bs, &d, 300, &url), 0);
        snprintf(want, sizeof(want), "http://127.0.0.1:%d" KEY "?X-Amz-Algorithm=AWS4-HMAC-SHA256", S.port);
        assert_true(strncmp(url, want, strlen(want)) == 0);
        assert_non_null(strstr(url, "&X-Amz-Expires=300&"));
        assert_null(strstr(url, "X-Amz-Security-Token"));
        free(url);

        setenv("AWS_SESSION_TOKEN", "tok/en+1", 1);
        tb = open_store();
        unsetenv("AWS_SESSION_TOKEN");
        script((step_t[]) { AL(200, 5) }, 1);
        assert_int_equal(tb->ops->stat(tb, &d, NULL), 1);
        assert_string_equal(S.seen[0].token, "tok/en+1");
        assert_int_equal(tb->ops->presign(tb, &d, 60, &url), 0);
        assert_non_null(strstr(url, "&X-Amz-Security-Token=tok%2Fen%2B1"));
        free(url);
        tb->ops->free(tb);
}

static int staged(char *dir, size_t n) {
        int fd;
        snprintf(dir, n, "%s/berth-test-s3http-XXXXXX", getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        assert_non_null(mkdtemp(dir));
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        int f = openat(fd, "staged", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(f >= 0);
        assert_int_equal(write(f, "hello", 5), 5);
        close(f);
        return fd;
}

static void unstage(char *dir, int fd) {
        assert_int_equal(unlinkat(fd, "staged", 0), 0);
        close(fd);
        assert_int_equal(rmdir(dir), 0);
}

/* a commit: HEAD (absent), PUT signed with the digest as the payload hash, retried on
 * 5xx; a 403 is final; a blob present already is not sent again */
static void test_commit(void **state) {
        blobstore_t *bs = *state;
        digest_t d = blob();
        char dir[256];
        int dfd = staged(dir, sizeof(dir));

        script((step_t[]) { A(404), AB(500, INTERNAL), AH(200, "ETag: \"x\"\r\n") }, 3);
        assert_int_equal(bs->ops->commit_file(bs, dfd, "staged", &d), 0);
        assert_int_equal(requests(), 3);
        for (int i = 1; i < 3; i++) {
                assert_string_equal(S.seen[i].method, "PUT");
                assert_string_equal(S.seen[i].target, KEY);
                assert_string_equal(S.seen[i].sha, HEX);
                assert_int_equal(S.seen[i].body_len, 5);
                assert_string_equal(S.seen[i].body, "hello");
        }

        script((step_t[]) { A(404), A(403), A(200) }, 3);
        assert_int_equal(bs->ops->commit_file(bs, dfd, "staged", &d), -EACCES);
        assert_int_equal(requests(), 2);

        script((step_t[]) { AL(200, 5) }, 1);
        assert_int_equal(bs->ops->commit_file(bs, dfd, "staged", &d), 0);
        assert_int_equal(requests(), 1);

        /* the staged file missing: the errno, nothing sent after the HEAD */
        script((step_t[]) { A(404) }, 1);
        assert_int_equal(bs->ops->commit_file(bs, dfd, "absent", &d), -ENOENT);
        assert_int_equal(requests(), 1);
        unstage(dir, dfd);
}

#define INIT "<InitiateMultipartUploadResult><Bucket>bkt</Bucket><UploadId>id/1+</UploadId></InitiateMultipartUploadResult>"

/* a blob of 64 MiB (a sparse file) goes up in two parts of 32 MiB, completed with
 * both ETags in order; a part refused aborts the upload */
static void test_multipart(void **state) {
        blobstore_t *bs = *state;
        digest_t d = blob();
        char dir[256];
        int dfd = staged(dir, sizeof(dir)), fd = openat(dfd, "staged", O_WRONLY | O_CLOEXEC);
        bool deleted = false;

        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 64 << 20), 0);
        close(fd);
        script((step_t[]) { A(404), AB(200, INIT), AH(200, "ETag: \"same\"\r\n"), AH(200, "ETag: \"same\"\r\n"),
                            AB(200, "<CompleteMultipartUploadResult/>") },
               5);
        assert_int_equal(bs->ops->commit_file(bs, dfd, "staged", &d), 0);
        assert_int_equal(requests(), 5);
        for (int i = 2; i < 4; i++) {
                assert_string_equal(S.seen[i].method, "PUT");
                assert_int_equal(S.seen[i].body_len, 32 << 20);
                assert_non_null(strstr(S.seen[i].target, "&uploadId=id%2F1%2B"));
        }
        assert_string_equal(S.seen[4].target, KEY "?uploadId=id%2F1%2B");
        assert_string_equal(S.seen[4].body, "<CompleteMultipartUpload>"
                                            "<Part><PartNumber>1</PartNumber><ETag>&quot;same&quot;</ETag></Part>"
                                            "<Part><PartNumber>2</PartNumber><ETag>&quot;same&quot;</ETag></Part>"
                                            "</CompleteMultipartUpload>");

        script((step_t[]) { A(404), AB(200, INIT), A(403), A(403), A(204), A(204) }, 6);
        assert_int_equal(bs->ops->commit_file(bs, dfd, "staged", &d), -EACCES);
        for (int i = 2; i < requests() && i < MAX_STEPS; i++)
                if (strcmp(S.seen[i].method, "DELETE") == 0) {
                        assert_string_equal(S.seen[i].target, KEY "?uploadId=id%2F1%2B");
                        deleted = true;
                }
        assert_true(deleted);

        /* an initiate refused: nothing to abort */
        script((step_t[]) { A(404), A(403) }, 2);
        assert_int_equal(bs->ops->commit_file(bs, dfd, "staged", &d), -EACCES);
        assert_int_equal(requests(), 2);
        unstage(dir, dfd);
}

typedef struct {
        int n;
        char first[80];
} listed_t;

static void on_blob(void *ud, const digest_t *d, uint64_t size, time_t mtime) {
        listed_t *l = ud;
        (void) size;
        (void) mtime;
        if (!l->n++)
                snprintf(l->first, sizeof(l->first), "%s", digest_hex(d));
}

static void on_trash(void *ud, const digest_t *d) {
        on_blob(ud, d, 0, 0);
}

#define PAGE1 "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>t/1=</NextContinuationToken>" \
              "<Contents><Key>pfx/blobs/sha256/" HEX "</Key><Size>5</Size></Contents>"                                 \
              "<Contents><Key>pfx/blobs/sha256/not-a-digest</Key><Size>5</Size></Contents></ListBucketResult>"
#define PAGE2 "<ListBucketResult><IsTruncated>false</IsTruncated>"                                                     \
              "<Contents><Key>pfx/blobs/sha256/" HEX "</Key><Size>5</Size></Contents></ListBucketResult>"

/* listings: pages followed by their continuation token, keys that name no digest
 * skipped; a malformed answer is an error, not an empty listing */
static void test_list(void **state) {
        blobstore_t *bs = *state;
        listed_t l = {};

        script((step_t[]) { AB(200, PAGE1), A(500), AB(200, PAGE2) }, 3);
        assert_int_equal(bs->ops->list(bs, "", on_blob, &l), 2);
        assert_int_equal(l.n, 2);
        assert_string_equal(l.first, HEX);
        assert_int_equal(requests(), 3);
        assert_string_equal(S.seen[0].target, "/bkt/?list-type=2&prefix=pfx%2Fblobs%2F");
        assert_string_equal(S.seen[2].target, "/bkt/?continuation-token=t%2F1%3D&list-type=2&prefix=pfx%2Fblobs%2F");

        script((step_t[]) { AB(200, "<html>not S3</html>") }, 1);
        assert_int_equal(bs->ops->list(bs, "sha256/2c", on_blob, &l), -EBADMSG);
        assert_string_equal(S.seen[0].target, "/bkt/?list-type=2&prefix=pfx%2Fblobs%2Fsha256%2F2c");

        script((step_t[]) { AB(200, "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>") }, 1);
        assert_int_equal(bs->ops->list(bs, "", on_blob, &l), -EBADMSG);

        script((step_t[]) { A(403) }, 1);
        assert_int_equal(bs->ops->list(bs, "", on_blob, &l), -EACCES);

        l.n = 0;
        script((step_t[]) { AB(200, "<ListBucketResult><Contents><Key>pfx/trash/sha256-" HEX "</Key><Size>5</Size></Contents>"
                                    "<Contents><Key>pfx/trash/junk</Key><Size>1</Size></Contents></ListBucketResult>") },
               1);
        assert_int_equal(bs->ops->trash_list(bs, on_trash, &l), 1);
        assert_string_equal(l.first, HEX);
        assert_string_equal(S.seen[0].target, "/bkt/?list-type=2&prefix=pfx%2Ftrash%2F");
}

#define UPLOADS(trunc, more)                                                                                  \
        "<ListMultipartUploadsResult><IsTruncated>" trunc "</IsTruncated>" more                               \
        "<Upload><Key>pfx/blobs/sha256/old</Key><UploadId>old-1</UploadId><Initiated>2026-01-01T00:00:00Z</Initiated></Upload>" \
        "<Upload><Key>pfx/blobs/sha256/new</Key><UploadId>new-1</UploadId><Initiated>2026-12-01T00:00:00Z</Initiated></Upload>" \
        "</ListMultipartUploadsResult>"

#define NO_STAGED "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>"

/* expiry of multipart uploads a dead berthd left: the old ones aborted, page by page */
static void test_expire_incomplete(void **state) {
        blobstore_t *bs = *state;
        time_t now = 1796083200; /* 2026-12-01T00:00:00Z: "new" is a day younger than the limit */

        /* first the staged chunked uploads (objects under uploads/: none here), then
         * the multipart uploads */
        script((step_t[]) { AB(200, NO_STAGED),
                            AB(200, UPLOADS("true", "<NextKeyMarker>k/1</NextKeyMarker><NextUploadIdMarker>u1</NextUploadIdMarker>")),
                            A(204),
                            AB(200, UPLOADS("false", "")),
                            A(204) },
               5);
        assert_int_equal(bs->ops->expire_incomplete(bs, 86400, now), 2);
        assert_int_equal(requests(), 5);
        assert_string_equal(S.seen[0].target, "/bkt/?list-type=2&prefix=pfx%2Fuploads%2F");
        assert_string_equal(S.seen[1].target, "/bkt/?prefix=pfx%2F&uploads=");
        assert_string_equal(S.seen[2].method, "DELETE");
        assert_string_equal(S.seen[2].target, "/bkt/pfx/blobs/sha256/old?uploadId=old-1");
        assert_string_equal(S.seen[3].target, "/bkt/?key-marker=k%2F1&prefix=pfx%2F&upload-id-marker=u1&uploads=");

        /* an abort refused: not counted, the sweep goes on */
        script((step_t[]) { AB(200, NO_STAGED), AB(200, UPLOADS("false", "")), A(403) }, 3);
        assert_int_equal(bs->ops->expire_incomplete(bs, 86400, now), 0);

        script((step_t[]) { AB(200, NO_STAGED),
                            AB(200, "<ListMultipartUploadsResult><Upload><Key>k</Key></Upload></ListMultipartUploadsResult>") },
               2);
        assert_int_equal(bs->ops->expire_incomplete(bs, 86400, now), -EBADMSG);
        script((step_t[]) { AB(200, NO_STAGED),
                            AB(200, "<ListMultipartUploadsResult><IsTruncated>true</IsTruncated></ListMultipartUploadsResult>") },
               2);
        assert_int_equal(bs->ops->expire_incomplete(bs, 86400, now), -EBADMSG);
        /* the staged listing refused: the sweep reports it */
        script((step_t[]) { AB(200, "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>") }, 1);
        assert_int_equal(bs->ops->expire_incomplete(bs, 86400, now), -EBADMSG);
}

/* the credentials: a file readable by others refused, none at all refused */
static void test_credentials(void **state) {
        char dir[256], path[300];
        blobstore_t *bs = NULL;
        const char *detail = NULL;
        FILE *f;

        (void) state;
        snprintf(dir, sizeof(dir), "%s/berth-test-s3creds-XXXXXX", getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/creds", dir);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs("[default]\n# comment\naws_access_key_id = AK\naws_secret_access_key=SK \r\nsession_token = T\nother = x\n", f);
        fclose(f);
        setenv("BERTH_S3_CREDENTIALS_FILE", path, 1);
        assert_int_equal(chmod(path, 0644), 0);
        assert_int_equal(s3_blobstore_open("s3://bkt", NULL, &bs, &detail), -EACCES);
        assert_non_null(strstr(detail, "chmod 600"));
        assert_int_equal(chmod(path, 0600), 0);
        assert_int_equal(s3_blobstore_open("s3://bkt", NULL, &bs, &detail), 0);
        bs->ops->free(bs);
        assert_int_equal(unlink(path), 0);
        detail = NULL;
        assert_true(s3_blobstore_open("s3://bkt", NULL, &bs, &detail) < 0);
        assert_non_null(strstr(detail, "cannot open"));
        assert_int_equal(rmdir(dir), 0);
        unsetenv("BERTH_S3_CREDENTIALS_FILE");

        unsetenv("AWS_ACCESS_KEY_ID");
        detail = NULL;
        assert_int_equal(s3_blobstore_open("s3://bkt", NULL, &bs, &detail), -EACCES);
        assert_non_null(strstr(detail, "no S3 credentials"));
        setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
        detail = NULL;
        assert_int_equal(s3_blobstore_open("s3://B", NULL, &bs, &detail), -EINVAL);
        assert_non_null(detail);
}

int main(void) {
        const struct CMUnitTest t[] = {
                cmocka_unit_test_setup_teardown(test_retry_5xx, setup, teardown),
                cmocka_unit_test_setup_teardown(test_slowdown_code, setup, teardown),
                cmocka_unit_test_setup_teardown(test_give_up, setup, teardown),
                cmocka_unit_test_setup_teardown(test_4xx_not_retried, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_answers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_error_inside_200, setup, teardown),
                cmocka_unit_test_setup_teardown(test_untrash_and_remove, setup, teardown),
                cmocka_unit_test_setup_teardown(test_session_token_and_presign, setup, teardown),
                cmocka_unit_test_setup_teardown(test_commit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_multipart, setup, teardown),
                cmocka_unit_test_setup_teardown(test_list, setup, teardown),
                cmocka_unit_test_setup_teardown(test_expire_incomplete, setup, teardown),
                cmocka_unit_test_setup_teardown(test_credentials, setup, teardown),
        };
        return cmocka_run_group_tests(t, NULL, NULL);
}
