/* tests/unit/test-server.c: berthd's route handlers, linked from libberthd.la and
 * served by libmicrohttpd on a loopback port inside the test (plain HTTP, --auth
 * none): an upload's status answer, manifest GET negotiation, upload expiry on
 * the server's clock hook instead of the wall clock; the error answers of the blob,
 * upload and manifest handlers (issue 17). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>
#include "common/digest.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/manifest.h"
#include "server/http.h"
#include "server/metrics.h"
#include "storage/db.h"
#include "storage/usage.h"
#include "server/server.h"
#include "server-fixture.h"


static void test_upload_status(void **state) {
        fixture_t *f = *state;
        char loc[300], v[300], other[300];
        resp_t r;

        session(f, "lib/with/slashes", "abcd", loc, sizeof(loc));
        r = http(f, "GET", loc, NULL, NULL, 0);
        assert_int_equal(r.status, 204);
        assert_string_equal(header(&r, "Range", v, sizeof(v)), "0-3");
        assert_string_equal(header(&r, "Location", v, sizeof(v)), loc);
        assert_non_null(header(&r, "Docker-Upload-UUID", v, sizeof(v)));
        assert_string_equal(v, strrchr(loc, '/') + 1);
        resp_done(&r);

        /* the session belongs to its repository */
        snprintf(other, sizeof(other), "/v2/lib/other/blobs/uploads/%s", strrchr(loc, '/') + 1);
        r = http(f, "GET", other, NULL, NULL, 0);
        assert_int_equal(r.status, 404);
        assert_non_null(strstr(r.body, "\"BLOB_UPLOAD_UNKNOWN\""));
        resp_done(&r);
        r = http(f, "GET", "/v2/lib/with/slashes/blobs/uploads/00000000-0000-0000-0000-000000000000", NULL, NULL,
                 0);
        assert_int_equal(r.status, 404);
        resp_done(&r);
}

static void test_manifest_get_negotiation(void **state) {
        fixture_t *f = *state;
        digest_t cfg, layer, image, index;
        char *img = NULL, *idx = NULL, v[300];
        resp_t r;

        push_blob(f, "neg/app", "{}", &cfg);
        push_blob(f, "neg/app", "layer", &layer);
        assert_true(asprintf(&img,
                             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                             "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                             "\"digest\":\"%s\",\"size\":2},\"layers\":[{\"mediaType\":"
                             "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":5}]}",
                             cfg.str, layer.str) > 0);
        push_manifest(f, "neg/app", "img", MT_OCI_MANIFEST, img, &image);
        idx = index_of(&image, strlen(img));
        push_manifest(f, "neg/app", "multi", MT_OCI_INDEX, idx, &index);

        /* a client that takes an index gets it */
        r = http(f, "GET", "/v2/neg/app/manifests/multi", "Accept: " MT_OCI_INDEX "\r\n", NULL, 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(header(&r, "Docker-Content-Digest", v, sizeof(v)), index.str);
        assert_string_equal(header(&r, "Content-Type", v, sizeof(v)), MT_OCI_INDEX);
        assert_int_equal(r.body_len, strlen(idx));
        resp_done(&r);
        /* one that takes only image manifests gets the linux/amd64 image */
        r = http(f, "GET", "/v2/neg/app/manifests/multi",
                 "Accept: " MT_DOCKER_MANIFEST "\r\nAccept: " MT_OCI_MANIFEST "\r\n", NULL, 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(header(&r, "Docker-Content-Digest", v, sizeof(v)), image.str);
        assert_string_equal(header(&r, "Content-Type", v, sizeof(v)), MT_OCI_MANIFEST);
        assert_true(r.body_len == strlen(img) && memcmp(r.body, img, r.body_len) == 0);
        resp_done(&r);
        /* by digest, never substituted */
        {
                char path[300];
                snprintf(path, sizeof(path), "/v2/neg/app/manifests/%s", index.str);
                r = http(f, "HEAD", path, "Accept: " MT_OCI_MANIFEST "\r\n", NULL, 0);
                assert_int_equal(r.status, 200);
                assert_string_equal(header(&r, "Docker-Content-Digest", v, sizeof(v)), index.str);
                resp_done(&r);
        }
        /* If-None-Match on the digest: 304 */
        snprintf(v, sizeof(v), "If-None-Match: \"%s\"\r\nAccept: " MT_OCI_INDEX "\r\n", index.str);
        r = http(f, "GET", "/v2/neg/app/manifests/multi", v, NULL, 0);
        assert_int_equal(r.status, 304);
        resp_done(&r);
        free(img);
        free(idx);
}

/* Expiry follows the server's clock: no waiting on the wall clock. */
static void test_upload_expiry_by_clock(void **state) {
        fixture_t *f = *state;
        char loc[300];
        resp_t r;

        session(f, "exp/a", "abcd", loc, sizeof(loc));
        uploads_expire(&f->srv); /* young: kept */
        r = http(f, "GET", loc, NULL, NULL, 0);
        assert_int_equal(r.status, 204);
        resp_done(&r);
        f->clock.offset = 61; /* --upload-max-age 60 */
        /* another berthd at it (the job's lock held on another connection): this one
         * skips the round, the session stays for the holder */
        {
                db_conn_t *c = NULL;
                assert_int_equal(db_conn_get(server_db(&f->srv), &c), 0);
                assert_int_equal(db_lock_try(c, DB_LOCK_UPLOAD_EXPIRY), 1);
                uploads_expire(&f->srv);
                r = http(f, "GET", loc, NULL, NULL, 0);
                assert_int_equal(r.status, 204);
                resp_done(&r);
                db_unlock(c, DB_LOCK_UPLOAD_EXPIRY);
                db_conn_put(server_db(&f->srv), c);
        }
        uploads_expire(&f->srv);
        r = http(f, "GET", loc, NULL, NULL, 0);
        assert_int_equal(r.status, 404);
        assert_non_null(strstr(r.body, "\"BLOB_UPLOAD_UNKNOWN\""));
        resp_done(&r);
}

/* A damaged session (a directory where its file belongs) is an unknown upload, 404,
 * not a server error. */
static void test_damaged_session_is_unknown(void **state) {
        fixture_t *f = *state;
        char loc[300], path[600];
        resp_t r;

        session(f, "dmg/a", "abcd", loc, sizeof(loc));
        snprintf(path, sizeof(path), "%s/uploads/%s", f->dir, strrchr(loc, '/') + 1);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(mkdir(path, 0700), 0);
        r = http(f, "PATCH", loc, "Content-Type: application/octet-stream\r\n", "more", 4);
        assert_int_equal(r.status, 404);
        assert_non_null(strstr(r.body, "\"BLOB_UPLOAD_UNKNOWN\""));
        resp_done(&r);        /* its status too, with the file gone altogether */
        assert_int_equal(rmdir(path), 0);
        r = http(f, "GET", loc, NULL, NULL, 0);
        assert_code(&r, 404, "BLOB_UPLOAD_UNKNOWN");
        resp_done(&r);
}

/* The error of an answer in the OCI format names code. */

/* The path of a blob's file in the store. */
static void blob_file(const fixture_t *f, const digest_t *d, char *buf, size_t size) {
        const char *hex = strchr(d->str, ':') + 1;
        snprintf(buf, size, "%s/blobs/sha256/%.2s/%s", f->dir, hex, hex);
}

/* The Range header of an upload's status. */
static void assert_upload_range(fixture_t *f, const char *loc, const char *want) {
        char v[64];
        resp_t r = http(f, "GET", loc, NULL, NULL, 0);

        assert_int_equal(r.status, 204);
        assert_string_equal(header(&r, "Range", v, sizeof(v)), want);
        resp_done(&r);
}

/* GET/HEAD/DELETE of a blob: a bad digest, an unknown blob, a row whose file is gone,
 * a range outside the blob, one inside it. */
static void test_blob_get_delete_errors(void **state) {
        fixture_t *f = *state;
        char path[600], v[300];
        digest_t d, gone;
        resp_t r;

        push_blob(f, "b/get", "abcd", &d);
        r = http(f, "GET", "/v2/b/get/blobs/sha256:xyz", NULL, NULL, 0);
        assert_code(&r, 400, "DIGEST_INVALID");
        resp_done(&r);
        r = http(f, "DELETE", "/v2/b/get/blobs/sha256:xyz", NULL, NULL, 0);
        assert_code(&r, 400, "DIGEST_INVALID");
        resp_done(&r);
        /* linked elsewhere only: unknown here */
        snprintf(path, sizeof(path), "/v2/b/other/blobs/%s", d.str);
        r = http(f, "GET", path, NULL, NULL, 0);
        assert_code(&r, 404, "BLOB_UNKNOWN");
        resp_done(&r);
        r = http(f, "DELETE", path, NULL, NULL, 0);
        assert_code(&r, 404, "BLOB_UNKNOWN");
        resp_done(&r);

        snprintf(path, sizeof(path), "/v2/b/get/blobs/%s", d.str);
        r = http(f, "GET", path, "Range: bytes=4-9\r\n", NULL, 0);
        assert_int_equal(r.status, 416);
        assert_string_equal(header(&r, "Content-Range", v, sizeof(v)), "bytes */4");
        resp_done(&r);
        r = http(f, "GET", path, "Range: bytes=1-2\r\n", NULL, 0);
        assert_int_equal(r.status, 206);
        assert_string_equal(header(&r, "Content-Range", v, sizeof(v)), "bytes 1-2/4");
        assert_true(r.body_len == 2 && memcmp(r.body, "bc", 2) == 0);
        resp_done(&r);

        /* a row without its file: unknown, not a server error */
        push_blob(f, "b/get", "gone", &gone);
        blob_file(f, &gone, v, sizeof(v));
        assert_int_equal(unlink(v), 0);
        snprintf(path, sizeof(path), "/v2/b/get/blobs/%s", gone.str);
        r = http(f, "GET", path, NULL, NULL, 0);
        assert_code(&r, 404, "BLOB_UNKNOWN");
        resp_done(&r);

        /* deleted: the link goes, a second delete finds nothing */
        snprintf(path, sizeof(path), "/v2/b/get/blobs/%s", d.str);
        r = http(f, "DELETE", path, NULL, NULL, 0);
        assert_int_equal(r.status, 202);
        assert_string_equal(header(&r, "Docker-Content-Digest", v, sizeof(v)), d.str);
        resp_done(&r);
        r = http(f, "HEAD", path, NULL, NULL, 0);
        assert_int_equal(r.status, 404);
        resp_done(&r);
        r = http(f, "DELETE", path, NULL, NULL, 0);
        assert_code(&r, 404, "BLOB_UNKNOWN");
        resp_done(&r);
}

/* POST: an unknown digest algorithm, a bad or wrong digest for a monolithic upload
 * (its session does not stay), mounts that cannot happen fall back to a new session,
 * a mount without from finds the blob in another repository. */
static void test_upload_start_errors(void **state) {
        fixture_t *f = *state;
        char path[600], v[300], uploads[300];
        digest_t d, other;
        resp_t r;
        int n;

        push_blob(f, "m/src", "mounted", &d);
        r = http(f, "POST", "/v2/m/dst/blobs/uploads/?digest-algorithm=md5", NULL, NULL, 0);
        assert_code(&r, 400, "DIGEST_INVALID");
        resp_done(&r);
        r = http(f, "POST", "/v2/m/dst/blobs/uploads/?digest=sha256:short", NULL, "x", 1);
        assert_code(&r, 400, "DIGEST_INVALID");
        resp_done(&r);
        assert_int_equal(digest_buf(DIGEST_SHA256, "other", 5, &other), 0);
        snprintf(path, sizeof(path), "/v2/m/dst/blobs/uploads/?digest=%s", other.str);
        r = http(f, "POST", path, NULL, "not other", 9);
        assert_code(&r, 400, "DIGEST_INVALID");
        resp_done(&r);
        snprintf(path, sizeof(path), "/v2/m/dst/blobs/%s", other.str);
        r = http(f, "HEAD", path, NULL, NULL, 0);
        assert_int_equal(r.status, 404);
        resp_done(&r);
        /* the monolithic upload's session is gone with it */
        snprintf(uploads, sizeof(uploads), "%s/uploads", f->dir);
        n = 0;
        {
                DIR *dir = opendir(uploads);
                struct dirent *e;
                while (dir && (e = readdir(dir)))
                        n += e->d_name[0] != '.';
                if (dir)
                        closedir(dir);
        }
        assert_int_equal(n, 0);

        /* from an invalid name, or from a repository without the blob: a new session */
        snprintf(path, sizeof(path), "/v2/m/dst/blobs/uploads/?mount=%s&from=..bad", d.str);
        r = http(f, "POST", path, NULL, NULL, 0);
        assert_int_equal(r.status, 202);
        assert_string_equal(header(&r, "Range", v, sizeof(v)), "0-0");
        resp_done(&r);
        snprintf(path, sizeof(path), "/v2/m/dst/blobs/uploads/?mount=%s&from=m/empty", d.str);
        r = http(f, "POST", path, NULL, NULL, 0);
        assert_int_equal(r.status, 202);
        resp_done(&r);
        /* a mount of an unknown blob: a new session too */
        snprintf(path, sizeof(path), "/v2/m/dst/blobs/uploads/?mount=%s", other.str);
        r = http(f, "POST", path, NULL, NULL, 0);
        assert_int_equal(r.status, 202);
        resp_done(&r);
        /* without from: any repository holding it (anyone may pull with --auth none) */
        snprintf(path, sizeof(path), "/v2/m/dst/blobs/uploads/?mount=%s", d.str);
        r = http(f, "POST", path, NULL, NULL, 0);
        assert_int_equal(r.status, 201);
        assert_string_equal(header(&r, "Docker-Content-Digest", v, sizeof(v)), d.str);
        resp_done(&r);
        snprintf(path, sizeof(path), "/v2/m/dst/blobs/%s", d.str);
        r = http(f, "GET", path, NULL, NULL, 0);
        assert_true(r.status == 200 && r.body_len == 7 && memcmp(r.body, "mounted", 7) == 0);
        resp_done(&r);
}

/* PATCH and PUT on a session: a chunk that does not continue it, a PUT without or
 * with a wrong digest (the session stays as it was and can still finish), another
 * repository's session, a session id that is not one, DELETE. */
static void test_upload_session_errors(void **state) {
        fixture_t *f = *state;
        char loc[300], path[600], v[300];
        digest_t d;
        resp_t r;

        session(f, "s/a", "abcd", loc, sizeof(loc));
        /* Content-Range not at the end (4), or not the body's length */
        r = http(f, "PATCH", loc, "Content-Range: 0-3\r\n", "efgh", 4);
        assert_code(&r, 416, "BLOB_UPLOAD_INVALID");
        assert_string_equal(header(&r, "Range", v, sizeof(v)), "0-3");
        resp_done(&r);
        r = http(f, "PATCH", loc, "Content-Range: 4-9\r\n", "efgh", 4);
        assert_code(&r, 416, "BLOB_UPLOAD_INVALID");
        resp_done(&r);
        r = http(f, "PATCH", loc, "Content-Range: bogus\r\n", "efgh", 4);
        assert_code(&r, 416, "BLOB_UPLOAD_INVALID");
        resp_done(&r);
        assert_upload_range(f, loc, "0-3");
        r = http(f, "PATCH", loc, "Content-Range: 4-7\r\n", "efgh", 4);
        assert_int_equal(r.status, 202);
        assert_string_equal(header(&r, "Range", v, sizeof(v)), "0-7");
        resp_done(&r);

        /* PUT: no digest, a bad one, a wrong one (with a last chunk: dropped again) */
        r = http(f, "PUT", loc, NULL, NULL, 0);
        assert_code(&r, 400, "DIGEST_INVALID");
        resp_done(&r);
        snprintf(path, sizeof(path), "%s?digest=sha256:nothex", loc);
        r = http(f, "PUT", path, NULL, NULL, 0);
        assert_code(&r, 400, "DIGEST_INVALID");
        resp_done(&r);
        assert_int_equal(digest_buf(DIGEST_SHA256, "abcdefghij", 10, &d), 0);
        snprintf(path, sizeof(path), "%s?digest=%s", loc, d.str);
        r = http(f, "PUT", path, NULL, "XY", 2);
        assert_code(&r, 400, "DIGEST_INVALID");
        resp_done(&r);
        assert_upload_range(f, loc, "0-7");
        /* a last chunk that does not continue it */
        r = http(f, "PUT", path, "Content-Range: 0-1\r\n", "ij", 2);
        assert_code(&r, 416, "BLOB_UPLOAD_INVALID");
        resp_done(&r);
        assert_upload_range(f, loc, "0-7");

        /* another repository cannot touch it */
        snprintf(path, sizeof(path), "/v2/s/b/blobs/uploads/%s?digest=%s", strrchr(loc, '/') + 1, d.str);
        r = http(f, "PUT", path, NULL, "ij", 2);
        assert_code(&r, 404, "BLOB_UPLOAD_UNKNOWN");
        resp_done(&r);
        snprintf(path, sizeof(path), "/v2/s/b/blobs/uploads/%s", strrchr(loc, '/') + 1);
        r = http(f, "DELETE", path, NULL, NULL, 0);
        assert_code(&r, 404, "BLOB_UPLOAD_UNKNOWN");
        resp_done(&r);
        r = http(f, "PATCH", "/v2/s/a/blobs/uploads/not-a-session", NULL, "x", 1);
        assert_code(&r, 404, "BLOB_UPLOAD_UNKNOWN");
        resp_done(&r);

        /* the right digest with the last chunk finishes it */
        snprintf(path, sizeof(path), "%s?digest=%s", loc, d.str);
        r = http(f, "PUT", path, "Content-Range: 8-9\r\n", "ij", 2);
        assert_int_equal(r.status, 201);
        assert_string_equal(header(&r, "Docker-Content-Digest", v, sizeof(v)), d.str);
        resp_done(&r);
        r = http(f, "GET", loc, NULL, NULL, 0);
        assert_code(&r, 404, "BLOB_UPLOAD_UNKNOWN");
        resp_done(&r);

        /* DELETE cancels a session once */
        session(f, "s/a", "abcd", loc, sizeof(loc));
        r = http(f, "DELETE", loc, NULL, NULL, 0);
        assert_int_equal(r.status, 204);
        resp_done(&r);
        r = http(f, "DELETE", loc, NULL, NULL, 0);
        assert_code(&r, 404, "BLOB_UPLOAD_UNKNOWN");
        resp_done(&r);
        r = http(f, "PATCH", loc, NULL, "x", 1);
        assert_code(&r, 404, "BLOB_UPLOAD_UNKNOWN");
        resp_done(&r);
}

/* --blob-max-size 16: a monolithic POST that says it is larger, a chunk that takes a
 * session past it (the session keeps what it had); --no-delete: deletes refused. */
static void test_upload_limits_and_no_delete(void **state) {
        fixture_t *f = *state;
        char loc[300], path[600];
        digest_t d, m;
        resp_t r;

        assert_int_equal(digest_buf(DIGEST_SHA256, "0123456789abcdefg", 17, &d), 0);
        snprintf(path, sizeof(path), "/v2/l/a/blobs/uploads/?digest=%s", d.str);
        r = http(f, "POST", path, NULL, "0123456789abcdefg", 17);
        assert_code(&r, 413, "SIZE_INVALID");
        resp_done(&r);
        session(f, "l/a", "0123456789", loc, sizeof(loc));
        r = http(f, "PATCH", loc, NULL, "abcdefg", 7);
        assert_code(&r, 413, "SIZE_INVALID");
        resp_done(&r);
        assert_upload_range(f, loc, "0-9");
        snprintf(path, sizeof(path), "%s?digest=%s", loc, d.str);
        r = http(f, "PUT", path, NULL, "abcdefg", 7);
        assert_code(&r, 413, "SIZE_INVALID");
        resp_done(&r);
        assert_upload_range(f, loc, "0-9");
        /* a monolithic POST without a length, chunked: refused once past the limit */
        snprintf(path, sizeof(path), "/v2/l/a/blobs/uploads/?digest=%s", d.str);
        r = http(f, "POST", path, "Transfer-Encoding: chunked\r\n", "a\r\n0123456789\r\n7\r\nabcdefg\r\n0\r\n\r\n",
                 32);
        assert_code(&r, 413, "SIZE_INVALID");
        resp_done(&r);
        snprintf(path, sizeof(path), "/v2/l/a/blobs/%s", d.str);
        r = http(f, "HEAD", path, NULL, NULL, 0);
        assert_int_equal(r.status, 404);
        resp_done(&r);
        /* exactly the limit is accepted */
        assert_int_equal(digest_buf(DIGEST_SHA256, "0123456789abcdef", 16, &d), 0);
        snprintf(path, sizeof(path), "%s?digest=%s", loc, d.str);
        r = http(f, "PUT", path, NULL, "abcdef", 6);
        assert_int_equal(r.status, 201);
        resp_done(&r);

        snprintf(path, sizeof(path), "/v2/l/a/blobs/%s", d.str);
        r = http(f, "DELETE", path, NULL, NULL, 0);
        assert_code(&r, 405, "UNSUPPORTED");
        resp_done(&r);
        r = http(f, "HEAD", path, NULL, NULL, 0);
        assert_int_equal(r.status, 200);
        resp_done(&r);
        push_blob(f, "l/a", "{}", &d); /* the empty config */
        push_manifest(f, "l/a", "t", "application/vnd.oci.image.manifest.v1+json",
                      "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                      "\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":"
                      "\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\",\"size\":2},"
                      "\"layers\":[]}",
                      &m);
        r = http(f, "DELETE", "/v2/l/a/manifests/t", NULL, NULL, 0);
        assert_code(&r, 405, "UNSUPPORTED");
        resp_done(&r);
        r = http(f, "HEAD", "/v2/l/a/manifests/t", NULL, NULL, 0);
        assert_int_equal(r.status, 200);
        resp_done(&r);
}

/* PUT of a manifest: a tag outside the grammar (in the path or a tag parameter), more
 * tags than it takes, a body that does not match the digest in the path, one that is
 * not a manifest, one naming a blob the repository lacks; then the tags of a good one. */
static void test_manifest_put_errors(void **state) {
        fixture_t *f = *state;
        char path[4096], v[300], *img, *bad = NULL;
        digest_t cfg, other, got;
        resp_t r;
        size_t n;

        push_blob(f, "p/a", "{}", &cfg);
        img = image_of(&cfg);
        r = http(f, "PUT", "/v2/p/a/manifests/-bad", "Content-Type: " MT_OCI_MANIFEST "\r\n", img, strlen(img));
        assert_code(&r, 400, "TAG_INVALID");
        resp_done(&r);
        r = http(f, "GET", "/v2/p/a/manifests/-bad", NULL, NULL, 0);
        assert_code(&r, 404, "MANIFEST_UNKNOWN");
        resp_done(&r);
        r = http(f, "DELETE", "/v2/p/a/manifests/-bad", NULL, NULL, 0);
        assert_code(&r, 404, "MANIFEST_UNKNOWN");
        resp_done(&r);
        r = http(f, "PUT", "/v2/p/a/manifests/ok?tag=also&tag=-bad", "Content-Type: " MT_OCI_MANIFEST "\r\n", img,
                 strlen(img));
        assert_code(&r, 400, "TAG_INVALID");
        resp_done(&r);
        /* the path's tag and 64 more: one too many */
        n = (size_t) snprintf(path, sizeof(path), "/v2/p/a/manifests/ok?");
        for (int i = 0; i < 64; i++)
                n += (size_t) snprintf(path + n, sizeof(path) - n, "%stag=t%d", i ? "&" : "", i);
        assert_true(n < sizeof(path));
        r = http(f, "PUT", path, "Content-Type: " MT_OCI_MANIFEST "\r\n", img, strlen(img));
        assert_code(&r, 413, "SIZE_INVALID");
        resp_done(&r);
        r = http(f, "GET", "/v2/p/a/manifests/ok", NULL, NULL, 0);
        assert_code(&r, 404, "MANIFEST_UNKNOWN");
        resp_done(&r);

        /* by digest: the body must be what the digest names; a bad digest is refused */
        assert_int_equal(digest_buf(DIGEST_SHA256, "x", 1, &other), 0);
        snprintf(path, sizeof(path), "/v2/p/a/manifests/%s", other.str);
        r = http(f, "PUT", path, "Content-Type: " MT_OCI_MANIFEST "\r\n", img, strlen(img));
        assert_code(&r, 400, "DIGEST_INVALID");
        resp_done(&r);
        r = http(f, "PUT", "/v2/p/a/manifests/sha256:abc", "Content-Type: " MT_OCI_MANIFEST "\r\n", img,
                 strlen(img));
        assert_code(&r, 400, "DIGEST_INVALID");
        resp_done(&r);
        r = http(f, "GET", "/v2/p/a/manifests/sha256:abc", NULL, NULL, 0);
        assert_code(&r, 400, "DIGEST_INVALID");
        resp_done(&r);

        /* not a manifest; a config the repository does not have (named in the detail) */
        r = http(f, "PUT", "/v2/p/a/manifests/t", "Content-Type: " MT_OCI_MANIFEST "\r\n", "{\"schemaVersion\":2",
                 18);
        assert_code(&r, 400, "MANIFEST_INVALID");
        resp_done(&r);
        bad = image_of(&other);
        r = http(f, "PUT", "/v2/p/a/manifests/t", "Content-Type: " MT_OCI_MANIFEST "\r\n", bad, strlen(bad));
        assert_code(&r, 400, "MANIFEST_BLOB_UNKNOWN");
        assert_non_null(strstr(r.body, other.str));
        resp_done(&r);

        /* a good one with tag parameters: each is named back and resolves */
        r = http(f, "PUT", "/v2/p/a/manifests/t?tag=u&tag=v", "Content-Type: " MT_OCI_MANIFEST "\r\n", img,
                 strlen(img));
        assert_int_equal(r.status, 201);
        assert_int_equal(digest_buf(DIGEST_SHA256, img, strlen(img), &got), 0);
        assert_string_equal(header(&r, "Docker-Content-Digest", v, sizeof(v)), got.str);
        assert_null(header(&r, "OCI-Subject", v, sizeof(v)));
        assert_non_null(strstr(r.raw, "OCI-Tag: u\r\n"));
        assert_non_null(strstr(r.raw, "OCI-Tag: v\r\n"));
        resp_done(&r);
        r = http(f, "GET", "/v2/p/a/manifests/v", NULL, NULL, 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(header(&r, "Docker-Content-Digest", v, sizeof(v)), got.str);
        resp_done(&r);
        free(img);
        free(bad);
}

/* GET and DELETE of manifests: a row whose file is gone, a tag deleted (the manifest
 * stays by digest), a manifest deleted by digest, unknown ones. */
static void test_manifest_get_delete_errors(void **state) {
        fixture_t *f = *state;
        char path[600], file[600], *img;
        digest_t cfg, d;
        resp_t r;

        push_blob(f, "g/a", "{}", &cfg);
        img = image_of(&cfg);
        push_manifest(f, "g/a", "t", MT_OCI_MANIFEST, img, &d);
        r = http(f, "GET", "/v2/g/a/manifests/nope", NULL, NULL, 0);
        assert_code(&r, 404, "MANIFEST_UNKNOWN");
        resp_done(&r);
        r = http(f, "DELETE", "/v2/g/a/manifests/nope", NULL, NULL, 0);
        assert_code(&r, 404, "MANIFEST_UNKNOWN");
        resp_done(&r);

        /* the tag goes, the manifest stays */
        r = http(f, "DELETE", "/v2/g/a/manifests/t", NULL, NULL, 0);
        assert_int_equal(r.status, 202);
        resp_done(&r);
        r = http(f, "GET", "/v2/g/a/manifests/t", NULL, NULL, 0);
        assert_code(&r, 404, "MANIFEST_UNKNOWN");
        resp_done(&r);
        snprintf(path, sizeof(path), "/v2/g/a/manifests/%s", d.str);
        r = http(f, "GET", path, NULL, NULL, 0);
        assert_int_equal(r.status, 200);
        assert_true(r.body_len == strlen(img) && memcmp(r.body, img, r.body_len) == 0);
        resp_done(&r);

        /* a row without its file: unknown, not a server error */
        blob_file(f, &d, file, sizeof(file));
        assert_int_equal(unlink(file), 0);
        r = http(f, "GET", path, NULL, NULL, 0);
        assert_code(&r, 404, "MANIFEST_UNKNOWN");
        resp_done(&r);

        r = http(f, "DELETE", path, NULL, NULL, 0);
        assert_int_equal(r.status, 202);
        resp_done(&r);
        r = http(f, "DELETE", path, NULL, NULL, 0);
        assert_code(&r, 404, "MANIFEST_UNKNOWN");
        resp_done(&r);
        free(img);
}

/* Negotiation for a client that takes no index: an index whose linux/amd64 image is
 * no longer in the repository is served as it is; an index whose file is gone is an
 * unknown manifest (404), as it is for a client that takes it, not a server error. */
static void test_manifest_negotiation_fallbacks(void **state) {
        fixture_t *f = *state;
        digest_t cfg, image, index;
        char *img, *idx = NULL, v[300], path[300], file[600];
        resp_t r;

        push_blob(f, "nf/app", "{}", &cfg);
        img = image_of(&cfg);
        push_manifest(f, "nf/app", "img", MT_OCI_MANIFEST, img, &image);
        idx = index_of(&image, strlen(img));
        push_manifest(f, "nf/app", "multi", MT_OCI_INDEX, idx, &index);
        snprintf(path, sizeof(path), "/v2/nf/app/manifests/%s", image.str);
        r = http(f, "DELETE", path, NULL, NULL, 0);
        assert_int_equal(r.status, 202);
        resp_done(&r);
        r = http(f, "GET", "/v2/nf/app/manifests/multi", "Accept: " MT_OCI_MANIFEST "\r\n", NULL, 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(header(&r, "Docker-Content-Digest", v, sizeof(v)), index.str);
        resp_done(&r);

        blob_file(f, &index, file, sizeof(file));
        assert_int_equal(unlink(file), 0);
        r = http(f, "GET", "/v2/nf/app/manifests/multi", "Accept: " MT_OCI_INDEX "\r\n", NULL, 0);
        assert_code(&r, 404, "MANIFEST_UNKNOWN");
        resp_done(&r);
        r = http(f, "GET", "/v2/nf/app/manifests/multi", "Accept: " MT_OCI_MANIFEST "\r\n", NULL, 0);
        assert_code(&r, 404, "MANIFEST_UNKNOWN");
        resp_done(&r);
        free(img);
        free(idx);
}

/* Accept: one line per media type, joined; lines past the 4 KiB the server keeps
 * count as "any type" (the index as stored, not the linux/amd64 image); a client naming
 * image types only gets the image. A PUT's query parameters other than tag are
 * ignored, each tag= names the manifest too. */
static void test_manifest_accept_lines(void **state) {
        fixture_t *f = *state;
        digest_t cfg, image, index;
        char *img, *idx = NULL, v[300], *many = NULL;
        size_t len = 0;
        FILE *ms;
        resp_t r;

        push_blob(f, "al/app", "{}", &cfg);
        img = image_of(&cfg);
        push_manifest(f, "al/app", "img", MT_OCI_MANIFEST, img, &image);
        idx = index_of(&image, strlen(img));
        push_manifest(f, "al/app", "multi", MT_OCI_INDEX, idx, &index);

        r = http(f, "GET", "/v2/al/app/manifests/multi", "Accept: " MT_OCI_MANIFEST "\r\n", NULL, 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(header(&r, "Docker-Content-Digest", v, sizeof(v)), image.str);
        resp_done(&r);
        r = http(f, "GET", "/v2/al/app/manifests/multi",
                 "Accept: application/vnd.docker.distribution.manifest.v2+json\r\nAccept: " MT_OCI_INDEX "\r\n", NULL, 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(header(&r, "Docker-Content-Digest", v, sizeof(v)), index.str);
        resp_done(&r);
        /* 60 lines of 100 bytes naming no index type */
        ms = open_memstream(&many, &len);
        assert_non_null(ms);
        for (int i = 0; i < 60; i++)
                fprintf(ms, "Accept: application/vnd.example.type-%03d+%s\r\n", i,
                        "json;q=0.5;padding=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        fclose(ms);
        r = http(f, "GET", "/v2/al/app/manifests/multi", many, NULL, 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(header(&r, "Docker-Content-Digest", v, sizeof(v)), index.str);
        resp_done(&r);
        free(many);

        r = http(f, "PUT", "/v2/al/app/manifests/v2?note=x&tag=also", "Content-Type: " MT_OCI_MANIFEST "\r\n", img,
                 strlen(img));
        assert_int_equal(r.status, 201);
        resp_done(&r);
        r = http(f, "HEAD", "/v2/al/app/manifests/also", NULL, NULL, 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(header(&r, "Docker-Content-Digest", v, sizeof(v)), image.str);
        resp_done(&r);
        free(img);
        free(idx);
}

/* sql on the server's database (SQLite) through a connection of the test's own. */
static void db_exec(fixture_t *f, const char *sql) {
        char path[600];
        sqlite3 *db = NULL;
        char *err = NULL;

        snprintf(path, sizeof(path), "%s/berth.db", f->dir);
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        sqlite3_busy_timeout(db, 5000);
        if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
                fail_msg("%s: %s", sql, err ? err : "?");
        sqlite3_free(err);
        sqlite3_close(db);
}

/* The database refusing a write (a trigger raising an error) under each handler that
 * writes: a 500 in the OCI error format, and nothing half-done (the blob, the tag,
 * the link stay; a new session's file goes; a finished upload's blob is not linked). */
static void test_handlers_when_the_database_refuses(void **state) {
        fixture_t *f = *state;
        char loc[300], path[600], uploads[300], *img;
        digest_t cfg, d, m;
        resp_t r;
        int n = 0;

        push_blob(f, "r/a", "{}", &cfg);
        push_blob(f, "r/a", "layer", &d);
        img = image_of(&cfg);
        push_manifest(f, "r/a", "t", MT_OCI_MANIFEST, img, &m);

        /* DELETE of a blob and of a tag */
        db_exec(f, "CREATE TRIGGER no_unlink BEFORE DELETE ON repo_blobs BEGIN SELECT RAISE(ABORT, 'refused'); END;"
                   "CREATE TRIGGER no_untag BEFORE DELETE ON tags BEGIN SELECT RAISE(ABORT, 'refused'); END");
        snprintf(path, sizeof(path), "/v2/r/a/blobs/%s", d.str);
        r = http(f, "DELETE", path, NULL, NULL, 0);
        assert_code(&r, 500, "UNKNOWN");
        resp_done(&r);
        r = http(f, "HEAD", path, NULL, NULL, 0);
        assert_int_equal(r.status, 200);
        resp_done(&r);
        r = http(f, "DELETE", "/v2/r/a/manifests/t", NULL, NULL, 0);
        assert_code(&r, 500, "UNKNOWN");
        resp_done(&r);
        r = http(f, "HEAD", "/v2/r/a/manifests/t", NULL, NULL, 0);
        assert_int_equal(r.status, 200);
        resp_done(&r);

        /* PUT of a manifest with a new tag */
        db_exec(f, "CREATE TRIGGER no_tag BEFORE INSERT ON tags BEGIN SELECT RAISE(ABORT, 'refused'); END");
        r = http(f, "PUT", "/v2/r/a/manifests/u", "Content-Type: " MT_OCI_MANIFEST "\r\n", img, strlen(img));
        assert_code(&r, 500, "UNKNOWN");
        resp_done(&r);
        r = http(f, "HEAD", "/v2/r/a/manifests/u", NULL, NULL, 0);
        assert_int_equal(r.status, 404);
        resp_done(&r);

        /* POST of a session: its file does not stay behind */
        db_exec(f, "CREATE TRIGGER no_session BEFORE INSERT ON uploads BEGIN SELECT RAISE(ABORT, 'refused'); END");
        r = http(f, "POST", "/v2/r/a/blobs/uploads/", NULL, NULL, 0);
        assert_code(&r, 500, "UNKNOWN");
        resp_done(&r);
        snprintf(uploads, sizeof(uploads), "%s/uploads", f->dir);
        {
                DIR *dir = opendir(uploads);
                struct dirent *e;
                while (dir && (e = readdir(dir)))
                        n += e->d_name[0] != '.';
                if (dir)
                        closedir(dir);
        }
        assert_int_equal(n, 0);
        db_exec(f, "DROP TRIGGER no_session");

        /* a mount and the last PUT of an upload, whose links are refused */
        session(f, "r/b", "chunk", loc, sizeof(loc));
        db_exec(f, "CREATE TRIGGER no_link BEFORE INSERT ON repo_blobs BEGIN SELECT RAISE(ABORT, 'refused'); END");
        snprintf(path, sizeof(path), "/v2/r/c/blobs/uploads/?mount=%s&from=r/a", d.str);
        r = http(f, "POST", path, NULL, NULL, 0);
        assert_code(&r, 500, "UNKNOWN");
        resp_done(&r);
        snprintf(path, sizeof(path), "/v2/r/c/blobs/%s", d.str);
        r = http(f, "HEAD", path, NULL, NULL, 0);
        assert_int_equal(r.status, 404);
        resp_done(&r);
        assert_int_equal(digest_buf(DIGEST_SHA256, "chunk", 5, &d), 0);
        snprintf(path, sizeof(path), "%s?digest=%s", loc, d.str);
        r = http(f, "PUT", path, NULL, NULL, 0);
        assert_code(&r, 500, "UNKNOWN");
        resp_done(&r);
        snprintf(path, sizeof(path), "/v2/r/b/blobs/%s", d.str);
        r = http(f, "HEAD", path, NULL, NULL, 0);
        assert_int_equal(r.status, 404);
        resp_done(&r);
        free(img);
}

/* The database failing a read under the handlers (its table renamed away by another
 * connection, so the statement no longer prepares): a 500 in the OCI error format,
 * never "unknown" (404) for what exists, and nothing changed: once the table is back
 * the session, the blob and the manifest are as they were. A blob file that cannot
 * be opened is a 500 too. */
static void test_handlers_when_reads_fail(void **state) {
        fixture_t *f = *state;
        char loc[300], path[600], v[300], file[600];
        digest_t cfg, m;
        char *img;
        resp_t r;

        push_blob(f, "r/a", "{}", &cfg);
        img = image_of(&cfg);
        push_manifest(f, "r/a", "t", MT_OCI_MANIFEST, img, &m);
        session(f, "r/a", "chunk", loc, sizeof(loc));

        /* the session's row */
        db_exec(f, "ALTER TABLE uploads RENAME TO uploads_away");
        r = http(f, "PATCH", loc, "Content-Type: application/octet-stream\r\n", "more", 4);
        assert_code(&r, 500, "UNKNOWN");
        resp_done(&r);
        r = http(f, "GET", loc, NULL, NULL, 0);
        assert_code(&r, 500, "UNKNOWN");
        resp_done(&r);
        r = http(f, "DELETE", loc, NULL, NULL, 0);
        assert_code(&r, 500, "UNKNOWN");
        resp_done(&r);
        db_exec(f, "ALTER TABLE uploads_away RENAME TO uploads");
        r = http(f, "GET", loc, NULL, NULL, 0);
        assert_int_equal(r.status, 204);
        assert_string_equal(header(&r, "Range", v, sizeof(v)), "0-4");
        resp_done(&r);

        /* the blob's link */
        snprintf(path, sizeof(path), "/v2/r/a/blobs/%s", cfg.str);
        db_exec(f, "ALTER TABLE repo_blobs RENAME TO repo_blobs_away");
        r = http(f, "GET", path, NULL, NULL, 0);
        assert_code(&r, 500, "UNKNOWN");
        resp_done(&r);
        r = http(f, "HEAD", path, NULL, NULL, 0);
        assert_int_equal(r.status, 500);
        resp_done(&r);
        db_exec(f, "ALTER TABLE repo_blobs_away RENAME TO repo_blobs");
        r = http(f, "GET", path, NULL, NULL, 0);
        assert_true(r.status == 200 && r.body_len == 2 && memcmp(r.body, "{}", 2) == 0);
        resp_done(&r);

        /* the manifest's row */
        db_exec(f, "ALTER TABLE manifests RENAME TO manifests_away");
        r = http(f, "GET", "/v2/r/a/manifests/t", "Accept: " MT_OCI_MANIFEST "\r\n", NULL, 0);
        assert_code(&r, 500, "UNKNOWN");
        resp_done(&r);
        db_exec(f, "ALTER TABLE manifests_away RENAME TO manifests");
        r = http(f, "GET", "/v2/r/a/manifests/t", "Accept: " MT_OCI_MANIFEST "\r\n", NULL, 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(header(&r, "Docker-Content-Digest", v, sizeof(v)), m.str);
        resp_done(&r);

        /* the blob's file, a link to itself: it cannot be opened */
        snprintf(file, sizeof(file), "%s/blobs/sha256/%.2s/%s", f->dir, digest_hex(&cfg), digest_hex(&cfg));
        assert_int_equal(unlink(file), 0);
        assert_int_equal(symlink(file, file), 0);
        r = http(f, "GET", path, NULL, NULL, 0);
        assert_code(&r, 500, "UNKNOWN");
        resp_done(&r);
        free(img);
}

/* berth_project_usage_*: at most max projects named, the largest, the rest summed
 * under _other. */
static void test_usage_fold(void **state) {
        usage_project_t *v = calloc(6, sizeof(*v));
        static const char *const names[] = { "e", "b", "d", "a", "c" };
        static const uint64_t bytes[] = { 50, 20, 40, 10, 30 };
        size_t n = 5;

        (void) state;
        assert_non_null(v);
        for (size_t i = 0; i < n; i++) {
                snprintf(v[i].project, sizeof(v[i].project), "%s", names[i]);
                v[i].bytes = bytes[i];
                v[i].blobs = 1;
                v[i].quota = 100;
        }
        metrics__usage_fold(v, &n, 5); /* all fit: sorted by name */
        assert_int_equal(n, 5);
        assert_string_equal(v[0].project, "a");
        assert_string_equal(v[4].project, "e");
        metrics__usage_fold(v, &n, 3); /* c, d, e named; a and b summed */
        assert_int_equal(n, 4);
        assert_string_equal(v[0].project, "c");
        assert_string_equal(v[1].project, "d");
        assert_string_equal(v[2].project, "e");
        assert_int_equal(v[2].quota, 100);
        assert_string_equal(v[3].project, "_other");
        assert_int_equal(v[3].bytes, 30);
        assert_int_equal(v[3].blobs, 2);
        assert_true(v[3].quota == USAGE_UNLIMITED); /* no quota for a sum */
        free(v);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_upload_status, setup, teardown),
                cmocka_unit_test_setup_teardown(test_manifest_get_negotiation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_upload_expiry_by_clock, setup, teardown),
                cmocka_unit_test_setup_teardown(test_damaged_session_is_unknown, setup, teardown),
                cmocka_unit_test_setup_teardown(test_blob_get_delete_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_upload_start_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_upload_session_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_upload_limits_and_no_delete, setup_limits, teardown),
                cmocka_unit_test_setup_teardown(test_manifest_put_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_manifest_get_delete_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_manifest_negotiation_fallbacks, setup, teardown),
                cmocka_unit_test_setup_teardown(test_manifest_accept_lines, setup, teardown),
                cmocka_unit_test_setup_teardown(test_handlers_when_the_database_refuses, setup, teardown),
                cmocka_unit_test_setup_teardown(test_handlers_when_reads_fail, setup, teardown),
                cmocka_unit_test(test_usage_fold),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
