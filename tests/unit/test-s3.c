/* tests/unit/test-s3.c: the S3 driver's pure parts (storage/s3.h): SigV4 signatures
 * against the examples AWS publishes (the SigV4 test suite's get-vanilla cases and
 * the Amazon S3 API reference's header and query-string examples), the storage URL,
 * and the XML answers. With a gateway (BERTH_TEST_S3_ENDPOINT, as the slow tier's
 * tests/ceph-rgw.sh exports it), chunked uploads on the driver (storage/mpupload.h):
 * continued by a second store on the same database and bucket, tails, a lease,
 * the commit through UploadPartCopy (its threshold lowered by the test hook), a
 * lost hash state re-read, the expiry, and the bucket-side expiry of orphans. */
#include <errno.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "common/err.h"
#include "storage/db.h"
#include "storage/fsck.h"
#include "storage/mpupload.h"
#include "storage/registry.h"
#include "storage/s3.h"
#include "fixture.h"

#define AK_SUITE "AKIDEXAMPLE"
#define SK_SUITE "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define AK_S3 "AKIAIOSFODNN7EXAMPLE"
#define SK_S3 "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void sig_is(const s3_sign_input_t *in, const char *want) {
        char sig[S3_SIG_HEX + 1], sh[256];

        assert_int_equal(s3_sign(in, sig, sh, sizeof(sh)), 0);
        assert_string_equal(sig, want);
}

/* SigV4 test suite: get-vanilla and get-vanilla-query-order-key-case */
static void test_sign_suite_vanilla(void **state) {
        s3_header_t h[] = { { "Host", "example.amazonaws.com" }, { "X-Amz-Date", "20150830T123600Z" } };
        s3_sign_input_t in = {
                .method = "GET", .path = "/", .query = "", .headers = h, .n_headers = 2, .payload_hash = EMPTY,
                .amz_date = "20150830T123600Z", .region = "us-east-1", .service = "service",
                .access_key = AK_SUITE, .secret_key = SK_SUITE,
        };
        char auth[512];

        (void) state;
        sig_is(&in, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
        assert_int_equal(s3_authorization(&in, auth, sizeof(auth)), 0);
        assert_string_equal(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                                  "SignedHeaders=host;x-amz-date, "
                                  "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
        in.query = "Param1=value1&Param2=value2";
        sig_is(&in, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

/* Amazon S3 API reference, "Signature calculations for the Authorization header":
 * GET Object with a Range, PUT Object, GET Bucket lifecycle, GET Bucket (list) */
static void test_sign_s3_examples(void **state) {
        s3_header_t get[] = {
                { "Host", "examplebucket.s3.amazonaws.com" }, { "Range", "bytes=0-9" },
                { "x-amz-content-sha256", EMPTY }, { "x-amz-date", "20130524T000000Z" },
        };
        s3_sign_input_t in = {
                .method = "GET", .path = "/test.txt", .query = "", .headers = get, .n_headers = 4,
                .payload_hash = EMPTY, .amz_date = "20130524T000000Z", .region = "us-east-1", .service = "s3",
                .access_key = AK_S3, .secret_key = SK_S3,
        };
        const char *put_hash = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
        s3_header_t put[] = {
                { "Host", "examplebucket.s3.amazonaws.com" }, { "Date", "Fri, 24 May 2013 00:00:00 GMT" },
                { "x-amz-date", "20130524T000000Z" }, { "x-amz-storage-class", "REDUCED_REDUNDANCY" },
                { "x-amz-content-sha256", put_hash },
        };
        s3_header_t bucket[] = {
                { "Host", "examplebucket.s3.amazonaws.com" }, { "x-amz-content-sha256", EMPTY },
                { "x-amz-date", "20130524T000000Z" },
        };
        char sh[128], sig[S3_SIG_HEX + 1];

        (void) state;
        sig_is(&in, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
        assert_int_equal(s3_sign(&in, sig, sh, sizeof(sh)), 0);
        assert_string_equal(sh, "host;range;x-amz-content-sha256;x-amz-date");

        in.method = "PUT";
        in.path = "/test%24file.text";
        in.headers = put;
        in.n_headers = 5;
        in.payload_hash = put_hash;
        sig_is(&in, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");

        in.method = "GET";
        in.path = "/";
        in.query = "lifecycle=";
        in.headers = bucket;
        in.n_headers = 3;
        in.payload_hash = EMPTY;
        sig_is(&in, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");

        in.query = "max-keys=2&prefix=J";
        sig_is(&in, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

/* Amazon S3 API reference, "Authenticating requests: using query parameters" */
static void test_presign_example(void **state) {
        char *url = NULL;

        (void) state;
        assert_int_equal(s3_presign("https://examplebucket.s3.amazonaws.com", "examplebucket.s3.amazonaws.com",
                                    "/test.txt", 86400, "20130524T000000Z", "us-east-1", AK_S3, SK_S3, NULL, &url),
                         0);
        assert_string_equal(url, "https://examplebucket.s3.amazonaws.com/test.txt"
                                 "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                                 "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
                                 "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
                                 "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
        free(url);
}

static void test_uri_encode(void **state) {
        char out[64];

        (void) state;
        assert_int_equal(s3_uri_encode("a/b c$~-_.", true, out, sizeof(out)), 0);
        assert_string_equal(out, "a/b%20c%24~-_.");
        assert_int_equal(s3_uri_encode("a/b", false, out, sizeof(out)), 0);
        assert_string_equal(out, "a%2Fb");
        assert_int_equal(s3_uri_encode("abcdef", false, out, 6), -ENAMETOOLONG);
}

static void test_url_forms(void **state) {
        s3_config_t c;
        const char *detail = NULL;

        (void) state;
        assert_int_equal(s3_url_parse("s3://my-bucket", &c, &detail), 0);
        assert_string_equal(c.bucket, "my-bucket");
        assert_string_equal(c.prefix, "");
        assert_string_equal(c.host, "s3.us-east-1.amazonaws.com");
        assert_true(c.https);
        assert_false(c.path_style);

        assert_int_equal(s3_url_parse("s3://reg/a/b/?endpoint=http://127.0.0.1:7480&region=eu-west-1", &c, &detail), 0);
        assert_string_equal(c.bucket, "reg");
        assert_string_equal(c.prefix, "a/b");
        assert_string_equal(c.host, "127.0.0.1:7480");
        assert_string_equal(c.region, "eu-west-1");
        assert_false(c.https);
        assert_true(c.path_style);

        assert_int_equal(s3_url_parse("s3://reg?endpoint=https%3A%2F%2Fs3.example.net&style=virtual", &c, &detail), 0);
        assert_string_equal(c.host, "s3.example.net");
        assert_false(c.path_style);
        assert_true(c.https);

        assert_int_equal(s3_url_parse("s3://b.c.d?region=us-west-2&style=path", &c, &detail), 0);
        assert_string_equal(c.host, "s3.us-west-2.amazonaws.com");
        assert_true(c.path_style);
}

static void test_url_rejects(void **state) {
        static const char *const bad[] = {
                "", "s3:/x", "file://x", "s3://", "s3://ab", "s3://UPPER", "s3://-abc", "s3://abc-",
                "s3://bucket?endpoint=ftp://h", "s3://bucket?endpoint=http://", "s3://bucket?endpoint=http://a b",
                "s3://bucket?region=", "s3://bucket?region=a/b", "s3://bucket?style=odd", "s3://bucket?x=1",
                "s3://bucket?endpoint", "s3://bucket/a//b", "s3://bucket/../x", "s3://bucket/a/./b",
                "s3://bucket/a%2Fb", "s3://bucket?endpoint=http://h&endpoint=http://h",
                "s3://bucket?endpoint=%zz", "s3://bucket?endpoint=http://h%00x", "s3://a.b.c?style=virtual",
        };
        s3_config_t c;

        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                const char *detail = NULL;
                if (s3_url_parse(bad[i], &c, &detail) != -EINVAL)
                        fail_msg("accepted '%s'", bad[i]);
                assert_non_null(detail);
        }
}

typedef struct {
        char keys[4][64];
        uint64_t sizes[4];
        time_t mtimes[4];
        int n;
} seen_t;

static void on_entry(void *ud, const char *key, uint64_t size, time_t mtime) {
        seen_t *s = ud;
        if (s->n < 4) {
                strncpy(s->keys[s->n], key, 63);
                s->sizes[s->n] = size;
                s->mtimes[s->n] = mtime;
        }
        s->n++;
}

static void test_list_parse(void **state) {
        static const char xml[] =
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                "<Name>b</Name><IsTruncated>true</IsTruncated>"
                "<Contents><Key>reg/blobs/sha256/ab</Key><LastModified>2026-12-03T07:19:43.386Z</LastModified>"
                "<ETag>&quot;x&quot;</ETag><Size>3000000</Size></Contents>"
                "<Contents><Key>a&amp;b&#x41;&#66;</Key><Size>0</Size></Contents>"
                "<NextContinuationToken>tok&amp;en</NextContinuationToken></ListBucketResult>";
        seen_t s = {};
        char token[64];

        (void) state;
        assert_int_equal(s3_list_parse(xml, strlen(xml), on_entry, &s, token, sizeof(token)), 0);
        assert_int_equal(s.n, 2);
        assert_string_equal(s.keys[0], "reg/blobs/sha256/ab");
        assert_int_equal(s.sizes[0], 3000000);
        assert_int_equal(s.mtimes[0], 1796282383);
        assert_string_equal(s.keys[1], "a&bAB");
        assert_string_equal(token, "tok&en");
}

static void test_list_rejects(void **state) {
        static const char *const bad[] = {
                "<Error><Code>AccessDenied</Code></Error>",
                "<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",                 /* no Size */
                "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
                "<ListBucketResult><Contents><Key>k</Key><Size>99999999999999999999999</Size></Contents></ListBucketResult>",
                "<ListBucketResult><Contents><Key>k&bogus;</Key><Size>1</Size></Contents></ListBucketResult>",
                "<ListBucketResult><Contents><Key>k&#0;</Key><Size>1</Size></Contents></ListBucketResult>",
                "<ListBucketResult><Contents><Key>k</Key><Size>1</Size><LastModified>yesterday</LastModified></Contents></ListBucketResult>",
                "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", /* no token */
        };
        char token[64];

        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                seen_t s = {};
                if (s3_list_parse(bad[i], strlen(bad[i]), on_entry, &s, token, sizeof(token)) != -EBADMSG)
                        fail_msg("accepted '%s'", bad[i]);
        }
}

static void on_upload(void *ud, const char *key, const char *id, time_t t) {
        seen_t *s = ud;
        if (s->n < 4) {
                snprintf(s->keys[s->n], 64, "%s %s", key, id);
                s->mtimes[s->n] = t;
        }
        s->n++;
}

static void test_uploads_parse(void **state) {
        static const char xml[] =
                "<ListMultipartUploadsResult><Bucket>b</Bucket><NextKeyMarker>k&amp;1</NextKeyMarker>"
                "<NextUploadIdMarker>2~x</NextUploadIdMarker><IsTruncated>true</IsTruncated>"
                "<Upload><Key>reg/blobs/sha256/ab</Key><UploadId>2~PBZ</UploadId><Initiator><ID>u</ID></Initiator>"
                "<Initiated>2026-12-03T07:31:13.020Z</Initiated></Upload></ListMultipartUploadsResult>";
        static const char no_id[] = "<ListMultipartUploadsResult><Upload><Key>k</Key></Upload></ListMultipartUploadsResult>";
        char km[64], im[64];
        seen_t s = {};

        (void) state;
        assert_int_equal(s3_uploads_parse(xml, strlen(xml), on_upload, &s, km, im, sizeof(km)), 0);
        assert_int_equal(s.n, 1);
        assert_string_equal(s.keys[0], "reg/blobs/sha256/ab 2~PBZ");
        assert_int_equal(s.mtimes[0], 1796283073);
        assert_string_equal(km, "k&1");
        assert_string_equal(im, "2~x");
        assert_int_equal(s3_uploads_parse(no_id, strlen(no_id), on_upload, &s, km, im, sizeof(km)), -EBADMSG);
}

static void on_part(void *ud, unsigned num, const char *etag, uint64_t size) {
        seen_t *s = ud;
        if (s->n < 4)
                (void) snprintf(s->keys[s->n++], sizeof(s->keys[0]), "%u %s %llu", num, etag, (unsigned long long) size);
}

/* ListParts (the parts a failed request left past a session's last are found so) */
static void test_parts_parse(void **state) {
        static const char xml[] =
                "<ListPartsResult><Bucket>b</Bucket><UploadId>2~x</UploadId><NextPartNumberMarker>2</NextPartNumberMarker>"
                "<IsTruncated>true</IsTruncated><Part><PartNumber>1</PartNumber><ETag>&quot;ab&quot;</ETag>"
                "<Size>6291456</Size></Part><Part><PartNumber>2</PartNumber><ETag>\"cd\"</ETag><Size>5</Size></Part>"
                "</ListPartsResult>";
        static const char last[] = "<ListPartsResult><IsTruncated>false</IsTruncated></ListPartsResult>";
        static const char *const bad[] = {
                "<ListPartsResult><Part><PartNumber>0</PartNumber><ETag>e</ETag><Size>1</Size></Part></ListPartsResult>",
                "<ListPartsResult><Part><PartNumber>10001</PartNumber><ETag>e</ETag><Size>1</Size></Part></ListPartsResult>",
                "<ListPartsResult><Part><PartNumber>1</PartNumber><ETag>e</ETag><Size>-1</Size></Part></ListPartsResult>",
                "<ListPartsResult><Part><PartNumber>1</PartNumber><Size>1</Size></Part></ListPartsResult>",
                "<ListPartsResult><IsTruncated>true</IsTruncated></ListPartsResult>",
                "<ListBucketResult></ListBucketResult>",
        };
        unsigned next = 9;
        seen_t s = {};

        (void) state;
        assert_int_equal(s3_parts_parse(xml, strlen(xml), on_part, &s, &next), 0);
        assert_int_equal(s.n, 2);
        assert_string_equal(s.keys[0], "1 \"ab\" 6291456");
        assert_string_equal(s.keys[1], "2 \"cd\" 5");
        assert_int_equal(next, 2);
        assert_int_equal(s3_parts_parse(last, strlen(last), on_part, &s, &next), 0);
        assert_int_equal(next, 0);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(s3_parts_parse(bad[i], strlen(bad[i]), on_part, &s, &next), -EBADMSG);
}

static void test_error_code(void **state) {
        static const char slow[] = "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Reduce</Message></Error>";
        char code[32];

        (void) state;
        assert_int_equal(s3_error_code(slow, strlen(slow), code, sizeof(code)), 1);
        assert_string_equal(code, "SlowDown");
        assert_int_equal(s3_error_code("<CopyObjectResult/>", 19, code, sizeof(code)), 0);
        assert_int_equal(s3_error_code("<Error><Code>", 13, code, sizeof(code)), 0);
}


/* ---- against a gateway ---- */

typedef struct {
        char dir[256];
        char bucket[64];
        char url[512];
        char db[512];   /* the metadata both open: SQLite in dir, or (BERTH_TEST_ENGINE=pg)
                         * a PostgreSQL database of the test's own */
        fx_clock_t clock;
        store_t *a, *b; /* two "replicas": their own directories, one bucket */
        meta_t *ma, *mb;
} gw_t;

static int gw_setup(void **state) {
        char path[512], bucket[64], url[512];
        blobstore_t *bs;
        const char *detail;
        gw_t *g;
        int r = fx_s3_bucket("berth-unit", "u", bucket, sizeof(bucket), url, sizeof(url));

        assert_true(r >= 0);
        if (r == 0)
                return 0; /* the cases skip */
        g = calloc(1, sizeof(*g));
        assert_non_null(g);
        assert_int_equal(fx_tmpdir(g->dir, sizeof(g->dir), "s3"), 0);
        (void) snprintf(g->bucket, sizeof(g->bucket), "%s", bucket);
        (void) snprintf(g->url, sizeof(g->url), "%s", url);
        g->clock.now = time(NULL);
        assert_int_equal(fx_db_target(g->db, sizeof(g->db), g->dir, "meta.db"), 0);
        for (int i = 0; i < 2; i++) {
                assert_int_equal(s3_blobstore_open(g->url, NULL, &bs, &detail), 0);
                assert_int_equal(fx_path(path, sizeof(path), g->dir, i ? "b" : "a"), 0);
                assert_int_equal(mkdir(path, 0700), 0);
                assert_int_equal(store_open_with(path, bs, i ? &g->b : &g->a), 0);
                store_set_clock(i ? g->b : g->a, fx_clock_now, &g->clock);
                assert_int_equal(meta_open(g->db, i ? &g->mb : &g->ma), 0);
        }
        *state = g;
        return 0;
}

static int gw_teardown(void **state) {
        gw_t *g = *state;

        if (!g)
                return 0;
        s3_test_set_copy_max(0);
        meta_free(g->ma);
        meta_free(g->mb);
        store_free(g->a);
        store_free(g->b);
        fx_db_drop(g->db);
        fx_rmtree(g->dir);
        free(g);
        return 0;
}

static void fill(uint8_t *b, size_t n, unsigned seed) {
        for (size_t i = 0; i < n; i++)
                b[i] = (uint8_t) ((i * 2654435761u + seed) >> 13);
}

/* The blob d read back through s equals buf. */
static void blob_is(store_t *s, const digest_t *d, const uint8_t *buf, size_t len) {
        uint8_t *got = malloc(len + 1);
        size_t off = 0, n;
        uint64_t size = 0;

        assert_non_null(got);
        assert_int_equal(store_blob_stat(s, d, &size), 1);
        assert_int_equal(size, len);
        while (off < len) {
                assert_int_equal(store_blob_read(s, d, off, got + off, len - off, &n), 0);
                assert_true(n > 0);
                off += n;
        }
        assert_memory_equal(got, buf, len);
        free(got);
}

#define MIB (1u << 20)

/* 7 MiB on a, 3 MiB on b (a tail), 8 MiB and the PUT on a: 18 MiB, committed by
 * UploadPartCopy parts (the copy limit lowered to 6 MiB); a request elsewhere
 * meanwhile is refused at once. */
static void test_staged_replicas(void **state) {
        gw_t *g = *state;
        const size_t len = 18 * MIB;
        uint8_t *buf;
        char uuid[UPLOAD_UUID_LEN + 1];
        mpupload_t *u = NULL, *v = NULL;
        uint64_t size;
        digest_t d;

        if (!g)
                skip();
        buf = malloc(len);
        assert_non_null(buf);
        fill(buf, len, 1);
        assert_int_equal(digest_buf(DIGEST_SHA256, buf, len, &d), 0);
        assert_true(mpupload_offered(g->a));
        assert_int_equal(mpupload_create(g->a, g->ma, "t/r", DIGEST_SHA256, uuid), 0);

        assert_int_equal(mpupload_acquire(g->a, g->ma, uuid, &u), 0);
        assert_int_equal(mpupload_acquire(g->b, g->mb, uuid, &v), BERTH_EBUSY);
        assert_int_equal(mpupload_write(u, buf, 7 * MIB), 0);
        assert_int_equal(mpupload_save(u), 0);
        mpupload_release(u);

        assert_int_equal(mpupload_acquire(g->b, g->mb, uuid, &v), 0);
        assert_int_equal(mpupload_size(v), 7 * MIB);
        assert_int_equal(mpupload_write(v, buf + 7 * MIB, 3 * MIB), 0);
        assert_int_equal(mpupload_save(v), 0);
        mpupload_release(v);
        assert_int_equal(mpupload_committed(g->ma, uuid, &size), 0);
        assert_int_equal(size, 10 * MIB);

        /* a request that fails leaves the session as it was */
        assert_int_equal(mpupload_acquire(g->b, g->mb, uuid, &v), 0);
        assert_int_equal(mpupload_write(v, buf, 4 * MIB), 0);
        mpupload_release(v);
        assert_int_equal(mpupload_committed(g->mb, uuid, &size), 0);
        assert_int_equal(size, 10 * MIB);

        s3_test_set_copy_max(6 * MIB);
        assert_int_equal(mpupload_acquire(g->a, g->ma, uuid, &u), 0);
        assert_int_equal(mpupload_size(u), 10 * MIB);
        assert_int_equal(mpupload_write(u, buf + 10 * MIB, 8 * MIB), 0);
        {
                digest_t wrong;
                assert_int_equal(digest_buf(DIGEST_SHA256, "not it", 6, &wrong), 0);
                assert_int_equal(mpupload_commit(u, "t/r", &wrong, NULL), BERTH_EDIGEST);
        }
        assert_int_equal(mpupload_commit(u, "t/r", &d, &size), 0);
        assert_int_equal(size, len);
        mpupload_release(u);
        s3_test_set_copy_max(0);
        blob_is(g->b, &d, buf, len);
        assert_int_equal(mpupload_committed(g->mb, uuid, &size), -ENOENT);
        assert_int_equal(meta_blob_linked(g->mb, "t/r", &d, &size), 1);
        free(buf);
}

/* A session whose hash state is missing: the completed object is read back. */
static void test_staged_lost_state(void **state) {
        gw_t *g = *state;
        const size_t len = 6 * MIB + 12345;
        char uuid[UPLOAD_UUID_LEN + 1];
        mpupload_t *u = NULL;
        db_stmt_t *st = NULL;
        uint8_t *buf;
        digest_t d;

        if (!g)
                skip();
        buf = malloc(len);
        assert_non_null(buf);
        fill(buf, len, 2);
        assert_int_equal(digest_buf(DIGEST_SHA256, buf, len, &d), 0);
        assert_int_equal(mpupload_create(g->a, g->ma, "t/lost", DIGEST_SHA256, uuid), 0);
        assert_int_equal(mpupload_acquire(g->a, g->ma, uuid, &u), 0);
        assert_int_equal(mpupload_write(u, buf, 6 * MIB), 0);
        assert_int_equal(mpupload_save(u), 0);
        mpupload_release(u);
        assert_int_equal(db_stmt(meta_conn(g->mb), "UPDATE upload_sessions SET hash = NULL", &st), 0);
        assert_int_equal(db_step_done(st), 0);
        db_stmt_reset(st);
        assert_int_equal(mpupload_acquire(g->b, g->mb, uuid, &u), 0);
        assert_int_equal(mpupload_write(u, buf + 6 * MIB, len - 6 * MIB), 0);
        assert_int_equal(mpupload_commit(u, "t/lost", &d, NULL), 0);
        mpupload_release(u);
        blob_is(g->a, &d, buf, len);
        free(buf);
}

/* An abandoned session goes with the expiry: rows, multipart upload, tail. */
static void test_staged_expiry(void **state) {
        gw_t *g = *state;
        char uuid[UPLOAD_UUID_LEN + 1];
        mpupload_t *u = NULL;
        uint8_t *buf;
        uint64_t n = 0, size;

        if (!g)
                skip();
        buf = malloc(6 * MIB);
        assert_non_null(buf);
        fill(buf, 6 * MIB, 3);
        assert_int_equal(mpupload_create(g->a, g->ma, "t/old", DIGEST_SHA256, uuid), 0);
        assert_int_equal(mpupload_acquire(g->a, g->ma, uuid, &u), 0);
        assert_int_equal(mpupload_write(u, buf, 6 * MIB), 0);
        assert_int_equal(mpupload_save(u), 0);
        mpupload_release(u);
        assert_int_equal(mpupload_expire(g->b, g->mb, 3600, fx_clock_now(&g->clock), false, &n), 0);
        assert_int_equal(n, 0); /* not old yet */
        g->clock.offset += 7200;
        assert_int_equal(mpupload_expire(g->b, g->mb, 3600, fx_clock_now(&g->clock), true, &n), 0);
        assert_int_equal(n, 1); /* a dry run counts it */
        assert_int_equal(mpupload_committed(g->mb, uuid, &size), 0);
        assert_int_equal(mpupload_expire(g->b, g->mb, 3600, fx_clock_now(&g->clock), false, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(mpupload_committed(g->mb, uuid, &size), -ENOENT);
        assert_int_equal(mpupload_acquire(g->a, g->ma, uuid, &u), -ENOENT);
        g->clock.offset -= 7200;
        free(buf);
}


static void no_session(void *userdata, const char *uuid) {
        (void) userdata, (void) uuid;
}

/* Staged objects whose session row is gone (a crash between them): the bucket-side
 * expiry removes them, but keeps a multipart upload however old while its session
 * wrote a tail recently. */
static void test_staged_orphans(void **state) {
        gw_t *g = *state;
        const char *uuid = "0badc0de-0000-4000-8000-000000000001";
        char id[512], etag[128];
        blobstore_t *bs = NULL;
        const char *err;
        uint8_t *buf;

        time_t fixed;

        if (!g)
                skip();
        fixed = g->clock.now;
        g->clock.now = 0; /* the wall clock: the gateway's object times are real */
        buf = calloc(1, 5 * MIB);
        assert_non_null(buf);
        assert_int_equal(s3_blobstore_open(g->url, NULL, &bs, &err), 0);
        assert_int_equal(bs->ops->staged_begin(bs, uuid, id, sizeof(id)), 0);
        assert_int_equal(bs->ops->staged_part(bs, uuid, id, 1, buf, 5 * MIB, etag, sizeof(etag)), 0);
        sleep(4);
        assert_int_equal(bs->ops->staged_tail_put(bs, uuid, 1, buf, 100), 0);
        /* the multipart upload is older than two seconds, the tail is not: both kept */
        assert_true(store_upload_scan_old(g->a, 2, no_session, NULL) >= 0);
        assert_int_equal(bs->ops->staged_part(bs, uuid, id, 2, buf, 100, etag, sizeof(etag)), 0);
        assert_int_equal(bs->ops->staged_tail_get(bs, uuid, 1, buf, 100), 0);
        sleep(4);
        /* idle past the age: the tail deleted, the multipart upload aborted */
        assert_true(store_upload_scan_old(g->a, 2, no_session, NULL) >= 0);
        assert_int_equal(bs->ops->staged_tail_get(bs, uuid, 1, buf, 100), -ENOENT);
        assert_int_equal(bs->ops->staged_part(bs, uuid, id, 3, buf, 100, etag, sizeof(etag)), -ENOENT);
        blobstore_free(bs);
        free(buf);
        g->clock.now = fixed;
}

/* The calls of an event-loop thread: write_some takes what the senders leave room
 * for, mpupload_wait "suspends" (counted) until a part ends and "resumes" once;
 * flush until none is in flight before the save, whose tail PUT is a step on a
 * thread (save_step: 1, waited for the same way). Then a request let go with its
 * parts in flight: its lease is given back by the last of them (the session taken
 * again once they ended), its bytes never counted; the commit is a step too. */
static atomic_int n_suspended, n_resumed;
static void t_suspend(void *userdata) {
        (void) userdata;
        atomic_fetch_add(&n_suspended, 1);
}
static void t_resume(void *userdata) {
        (void) userdata;
        atomic_fetch_add(&n_resumed, 1);
}

/* Wait as an event loop would: 0 go on at once, 1 "resumed" later. */
static void t_wait(mpupload_t *u) {
        int before = atomic_load(&n_resumed), r = mpupload_wait(u, t_suspend, t_resume, NULL);

        assert_true(r == 0 || r == 1);
        for (int i = 0; r == 1 && atomic_load(&n_resumed) == before; i++) {
                assert_true(i < 60000); /* a minute */
                usleep(1000);
        }
}

static void test_staged_async(void **state) {
        gw_t *g = *state;
        const size_t len = 96 * MIB;
        char uuid[UPLOAD_UUID_LEN + 1];
        mpupload_t *u = NULL, *v = NULL;
        uint64_t size = 0;
        size_t off = 0;
        uint8_t *buf;
        digest_t d;
        int r, tries;

        if (!g)
                skip();
        buf = malloc(len);
        assert_non_null(buf);
        fill(buf, len, 3);
        assert_int_equal(digest_buf(DIGEST_SHA256, buf, len, &d), 0);
        assert_int_equal(mpupload_create(g->a, g->ma, "t/async", DIGEST_SHA256, uuid), 0);
        assert_int_equal(mpupload_acquire(g->a, g->ma, uuid, &u), 0);
        while (off < len) {
                size_t n = 0;
                r = mpupload_write_some(u, buf + off, len - off, &n);
                assert_true(r == 0 || r == 1);
                assert_true(r == 1 || n == len - off);
                off += n;
                if (r == 1)
                        t_wait(u);
        }
        while ((r = mpupload_flush(u, NULL)) == 1)
                t_wait(u);
        assert_int_equal(r, 0);
        assert_int_equal(atomic_load(&n_suspended), atomic_load(&n_resumed));
        /* the (empty) tail's PUT on a thread: the step never waits for it */
        for (tries = 0; (r = mpupload_save_step(u)) == 1; tries++)
                t_wait(u);
        assert_int_equal(r, 0);
        assert_true(tries >= 1);
        assert_int_equal(atomic_load(&n_suspended), atomic_load(&n_resumed));
        mpupload_release(u);
        assert_int_equal(mpupload_committed(g->mb, uuid, &size), 0);
        assert_int_equal(size, len);

        /* three parts handed over, and the request lets go at once */
        assert_int_equal(mpupload_acquire(g->b, g->mb, uuid, &v), 0);
        off = 0;
        while (off < 48 * MIB) {
                size_t n = 0;
                r = mpupload_write_some(v, buf, 48 * MIB - off, &n);
                assert_true(r == 0 || r == 1);
                off += n;
                if (r == 1)
                        t_wait(v);
        }
        mpupload_release(v);
        for (tries = 0; (r = mpupload_acquire(g->a, g->ma, uuid, &u)) == BERTH_EBUSY; tries++) {
                assert_true(tries < 600); /* a minute */
                usleep(100000);
        }
        assert_int_equal(r, 0);
        assert_int_equal(mpupload_size(u), len); /* none of the released request's bytes */
        /* the commit (HEAD, completion, copy, rows) on a thread: never waited for here */
        for (tries = 0; (r = mpupload_commit_step(u, "t/async", &d, &size)) == 1; tries++) {
                assert_true(mpupload_committing(u));
                t_wait(u);
        }
        assert_int_equal(r, 0);
        assert_true(tries >= 1);
        assert_int_equal(atomic_load(&n_suspended), atomic_load(&n_resumed));
        assert_int_equal(size, len);
        mpupload_release(u);
        blob_is(g->b, &d, buf, len);
        free(buf);
}

/* GC and a direct upload: the object is complete under its digest before its row is
 * written, with nothing kept to place it again. An online sweep between the two
 * (grace 0 here) leaves a fresh object alone: only one older than an hour and than
 * the upload expiry's age goes (storage/registry.c, REGISTRY_ORPHAN_MIN_AGE); fsck
 * --repair leaves it for the hour too. */
typedef struct {
        store_t *s;
        const digest_t *d;
} present_t;

static int still_present(void *userdata) {
        present_t *p = userdata;
        int r = store_blob_stat(p->s, p->d, NULL);

        return r < 0 ? r : r == 0 ? BERTH_ESTOREDOWN : 0; /* as mpupload.c's ensure_blob */
}

static void gc_at(gw_t *g, uint64_t upload_max_age, registry_gc_result_t *res) {
        registry_gc_options_t o = { .grace = 0, .upload_max_age = upload_max_age, .who = "test-s3",
                                    .now = fx_clock_now, .now_userdata = &g->clock };

        assert_int_equal(registry_gc_run(g->a, g->ma, &o, res), 0);
}

static void test_gc_fresh_orphan(void **state) {
        gw_t *g = *state;
        registry_gc_result_t res;
        uint8_t b1[4096], b2[4096];
        digest_t d1, d2;
        present_t p = { 0 };

        if (!g)
                skip();
        fill(b1, sizeof(b1), 11);
        fill(b2, sizeof(b2), 12);
        assert_int_equal(digest_buf(DIGEST_SHA256, b1, sizeof(b1), &d1), 0);
        assert_int_equal(digest_buf(DIGEST_SHA256, b2, sizeof(b2), &d2), 0);
        /* the upload's object, complete; its row not written yet */
        assert_int_equal(store_blob_put(g->a, &d1, b1, sizeof(b1)), 0);
        /* a few seconds on (the store's clock counts whole seconds): without the
         * bound, grace 0 would take any object made before the run */
        g->clock.now = time(NULL) + 5;
        gc_at(g, 0, &res);
        assert_int_equal(res.orphans, 0);
        assert_int_equal(store_blob_stat(g->a, &d1, NULL), 1);
        /* the push's row: its transaction finds the object there */
        p.s = g->a;
        p.d = &d1;
        assert_int_equal(meta_blob_link_ensure(g->ma, "t/gc", &d1, sizeof(b1), still_present, &p), 0);

        /* an object left without a row (a push that died): kept for the hour, and
         * for the upload expiry's age when that is longer, then swept */
        assert_int_equal(store_blob_put(g->a, &d2, b2, sizeof(b2)), 0);
        /* fsck --repair with grace 0 takes it for a push in progress too */
        {
                fsck_options_t fo = { .repair = true, .grace = 0, .lock_wait = 60 };
                fsck_result_t fr = { 0 };

                assert_int_equal(fsck_run(g->a, meta_db(g->ma), &fo, &fr), 0);
                assert_int_equal(fr.problems[FSCK_ORPHAN], 0);
                assert_true(fr.recent_orphans >= 1);
                assert_int_equal(store_blob_stat(g->a, &d2, NULL), 1);
        }
        g->clock.now = time(NULL) + 1800;
        gc_at(g, 0, &res);
        assert_int_equal(store_blob_stat(g->a, &d2, NULL), 1);
        g->clock.now = time(NULL) + 3605;
        gc_at(g, 7200, &res);
        assert_int_equal(store_blob_stat(g->a, &d2, NULL), 1);
        g->clock.now = time(NULL) + 7205;
        gc_at(g, 7200, &res);
        assert_true(res.orphans >= 1);
        assert_int_equal(store_blob_stat(g->a, &d2, NULL), 0);
}

int main(void) {
        const struct CMUnitTest t[] = {
                cmocka_unit_test(test_sign_suite_vanilla), cmocka_unit_test(test_sign_s3_examples),
                cmocka_unit_test(test_presign_example),    cmocka_unit_test(test_uri_encode),
                cmocka_unit_test(test_url_forms),          cmocka_unit_test(test_url_rejects),
                cmocka_unit_test(test_list_parse),         cmocka_unit_test(test_list_rejects),
                cmocka_unit_test(test_uploads_parse),      cmocka_unit_test(test_parts_parse), cmocka_unit_test(test_error_code),
        };
        const struct CMUnitTest gw[] = {
                cmocka_unit_test(test_staged_replicas),
                cmocka_unit_test(test_staged_lost_state),
                cmocka_unit_test(test_staged_expiry),
                cmocka_unit_test(test_staged_orphans),
                cmocka_unit_test(test_staged_async),
                cmocka_unit_test(test_gc_fresh_orphan),
        };
        int r = cmocka_run_group_tests(t, NULL, NULL);

        return r + cmocka_run_group_tests_name("gateway", gw, gw_setup, gw_teardown);
}
