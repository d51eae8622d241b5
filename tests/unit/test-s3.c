/* tests/unit/test-s3.c: the S3 driver's pure parts (storage/s3.h): SigV4 signatures
 * against the examples AWS publishes (the SigV4 test suite's get-vanilla cases and
 * the Amazon S3 API reference's header and query-string examples), the storage URL,
 * and the XML answers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "storage/s3.h"

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

static void test_error_code(void **state) {
        static const char slow[] = "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Reduce</Message></Error>";
        char code[32];

        (void) state;
        assert_int_equal(s3_error_code(slow, strlen(slow), code, sizeof(code)), 1);
        assert_string_equal(code, "SlowDown");
        assert_int_equal(s3_error_code("<CopyObjectResult/>", 19, code, sizeof(code)), 0);
        assert_int_equal(s3_error_code("<Error><Code>", 13, code, sizeof(code)), 0);
}

int main(void) {
        const struct CMUnitTest t[] = {
                cmocka_unit_test(test_sign_suite_vanilla), cmocka_unit_test(test_sign_s3_examples),
                cmocka_unit_test(test_presign_example),    cmocka_unit_test(test_uri_encode),
                cmocka_unit_test(test_url_forms),          cmocka_unit_test(test_url_rejects),
                cmocka_unit_test(test_list_parse),         cmocka_unit_test(test_list_rejects),
                cmocka_unit_test(test_uploads_parse),      cmocka_unit_test(test_error_code),
        };
        return cmocka_run_group_tests(t, NULL, NULL);
}
