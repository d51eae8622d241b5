/* tests/unit/test-digest.c: digest strings and hashing. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include "common/digest.h"
#include "common/err.h"

#define HEX256_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HEX256_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define HEX512_ABC                                                       \
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a" \
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"

static void test_parse_sha256(void **state) {
        digest_t d;
        (void) state;
        assert_int_equal(digest_parse("sha256:" HEX256_ABC, &d), 0);
        assert_int_equal(d.alg, DIGEST_SHA256);
        assert_string_equal(d.str, "sha256:" HEX256_ABC);
        assert_string_equal(digest_hex(&d), HEX256_ABC);
}

static void test_parse_sha512(void **state) {
        digest_t d;
        (void) state;
        assert_int_equal(digest_parse("sha512:" HEX512_ABC, &d), 0);
        assert_int_equal(d.alg, DIGEST_SHA512);
        assert_string_equal(d.str, "sha512:" HEX512_ABC);
}

static void test_parse_uppercase_hex_rejected(void **state) {
        digest_t d;
        (void) state;
        assert_int_equal(
                digest_parse("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", &d),
                BERTH_EDIGEST_INVALID);
        assert_int_equal(
                digest_parse("sha256:Ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", &d),
                BERTH_EDIGEST_INVALID);
        assert_int_equal(digest_parse("SHA256:" HEX256_ABC, &d), BERTH_EDIGEST_INVALID);
}

static void test_parse_wrong_length(void **state) {
        digest_t d;
        (void) state;
        assert_int_equal(digest_parse("sha256:" HEX256_ABC "0", &d), BERTH_EDIGEST_INVALID);
        assert_int_equal(digest_parse_n("sha256:" HEX256_ABC, 7 + 63, &d), BERTH_EDIGEST_INVALID);
        assert_int_equal(digest_parse("sha256:", &d), BERTH_EDIGEST_INVALID);
        /* a sha256-length hex under the sha512 name */
        assert_int_equal(digest_parse("sha512:" HEX256_ABC, &d), BERTH_EDIGEST_INVALID);
        assert_int_equal(digest_parse("sha256:" HEX512_ABC, &d), BERTH_EDIGEST_INVALID);
        assert_int_equal(digest_parse("", &d), BERTH_EDIGEST_INVALID);
}

static void test_parse_unknown_algorithm(void **state) {
        digest_t d;
        (void) state;
        assert_int_equal(digest_parse("md5:900150983cd24fb0d6963f7d28e17f72", &d), BERTH_EDIGEST_INVALID);
        assert_int_equal(digest_parse("sha384:" HEX256_ABC, &d), BERTH_EDIGEST_INVALID);
        assert_int_equal(digest_parse("blake3:" HEX256_ABC, &d), BERTH_EDIGEST_INVALID);
}

static void test_parse_missing_colon(void **state) {
        digest_t d;
        (void) state;
        assert_int_equal(digest_parse("sha256" HEX256_ABC, &d), BERTH_EDIGEST_INVALID);
        assert_int_equal(digest_parse(HEX256_ABC, &d), BERTH_EDIGEST_INVALID);
        assert_int_equal(digest_parse("sha256-" HEX256_ABC, &d), BERTH_EDIGEST_INVALID);
}

static void test_parse_n_embedded_nul(void **state) {
        char buf[] = "sha256:" HEX256_ABC;
        digest_t d;
        (void) state;
        assert_int_equal(digest_parse_n(buf, strlen(buf), &d), 0);
        buf[20] = '\0';
        assert_int_equal(digest_parse_n(buf, sizeof(buf) - 1, &d), BERTH_EDIGEST_INVALID);
}

static void test_parse_n_uses_length(void **state) {
        /* a valid digest followed by more bytes: only the given length counts */
        const char *s = "sha256:" HEX256_ABC "trailing";
        digest_t d;
        (void) state;
        assert_int_equal(digest_parse_n(s, 7 + 64, &d), 0);
        assert_string_equal(d.str, "sha256:" HEX256_ABC);
        assert_int_equal(digest_parse_n(s, strlen(s), &d), BERTH_EDIGEST_INVALID);
}

static void test_parse_failure_leaves_output(void **state) {
        digest_t d, before;
        (void) state;
        assert_int_equal(digest_parse("sha256:" HEX256_EMPTY, &d), 0);
        before = d;
        assert_int_equal(digest_parse("sha256:zz", &d), BERTH_EDIGEST_INVALID);
        assert_memory_equal(&d, &before, sizeof(d));
}

static void test_hash_sha256_empty(void **state) {
        digest_t d;
        (void) state;
        assert_int_equal(digest_buf(DIGEST_SHA256, "", 0, &d), 0);
        assert_string_equal(d.str, "sha256:" HEX256_EMPTY);
}

static void test_hash_sha256_abc(void **state) {
        digest_t d;
        (void) state;
        assert_int_equal(digest_buf(DIGEST_SHA256, "abc", 3, &d), 0);
        assert_string_equal(d.str, "sha256:" HEX256_ABC);
}

static void test_hash_sha512_abc(void **state) {
        digest_t d;
        (void) state;
        assert_int_equal(digest_buf(DIGEST_SHA512, "abc", 3, &d), 0);
        assert_int_equal(d.alg, DIGEST_SHA512);
        assert_string_equal(d.str, "sha512:" HEX512_ABC);
}

static void test_incremental_equals_oneshot(void **state) {
        static const char msg[] = "The quick brown fox jumps over the lazy dog, several times over.";
        digest_ctx_t *c = NULL;
        digest_t one, inc;
        (void) state;
        for (int alg = DIGEST_SHA256; alg <= DIGEST_SHA512; alg++) {
                assert_int_equal(digest_buf(alg, msg, sizeof(msg) - 1, &one), 0);
                assert_int_equal(digest_ctx_new(alg, &c), 0);
                assert_int_equal(digest_ctx_alg(c), alg);
                for (size_t i = 0; i < sizeof(msg) - 1; i += 7) {
                        size_t n = sizeof(msg) - 1 - i < 7 ? sizeof(msg) - 1 - i : 7;
                        assert_int_equal(digest_ctx_update(c, msg + i, n), 0);
                }
                assert_int_equal(digest_ctx_update(c, NULL, 0), 0);
                assert_int_equal(digest_ctx_bytes(c), sizeof(msg) - 1);
                assert_int_equal(digest_ctx_peek(c, &inc), 0);
                assert_true(digest_equal(&one, &inc));
                c = digest_ctx_free(c);
                assert_null(c);
        }
}

static void test_peek_leaves_context_usable(void **state) {
        digest_ctx_t *c = NULL;
        digest_t d;
        (void) state;
        assert_int_equal(digest_ctx_new(DIGEST_SHA256, &c), 0);
        assert_int_equal(digest_ctx_peek(c, &d), 0);
        assert_string_equal(d.str, "sha256:" HEX256_EMPTY);
        assert_int_equal(digest_ctx_update(c, "ab", 2), 0);
        assert_int_equal(digest_ctx_peek(c, &d), 0);
        assert_int_equal(digest_ctx_peek(c, &d), 0); /* peeking twice changes nothing */
        assert_int_equal(digest_ctx_update(c, "c", 1), 0);
        assert_int_equal(digest_ctx_peek(c, &d), 0);
        assert_string_equal(d.str, "sha256:" HEX256_ABC);
        assert_int_equal(digest_ctx_bytes(c), 3);
        digest_ctx_free(c);
}

/* A running state written out and read back goes on to the same digest, for both
 * algorithms and at every offset within a block; a damaged state is refused. */
static void test_export_import(void **state) {
        static const char text[] = "The quick brown fox jumps over the lazy dog, again and again and again.";
        (void) state;
        for (int a = 0; a < 2; a++) {
                digest_alg_t alg = a ? DIGEST_SHA512 : DIGEST_SHA256;
                digest_t whole, got;

                assert_int_equal(digest_buf(alg, text, sizeof(text) - 1, &whole), 0);
                for (size_t cut = 0; cut < sizeof(text); cut += 7) {
                        digest_ctx_t *c = NULL, *back = NULL;
                        uint8_t buf[512];
                        size_t n;

                        assert_int_equal(digest_ctx_new(alg, &c), 0);
                        assert_int_equal(digest_ctx_update(c, text, cut), 0);
                        n = digest_ctx_export(c, buf, sizeof(buf));
                        assert_true(n > 0 && n == digest_ctx_export(c, NULL, 0));
                        assert_int_equal(digest_ctx_export(c, buf, n - 1), 0);
                        assert_int_equal(digest_ctx_import(buf, n, &back), 0);
                        assert_int_equal(digest_ctx_bytes(back), cut);
                        assert_int_equal(digest_ctx_update(back, text + cut, sizeof(text) - 1 - cut), 0);
                        assert_int_equal(digest_ctx_peek(back, &got), 0);
                        assert_true(digest_equal(&got, &whole));
                        assert_int_equal(digest_ctx_import(buf, n - 1, &back), -EINVAL);
                        buf[9] ^= 1; /* the byte count no longer matches the state */
                        assert_int_equal(digest_ctx_import(buf, n, &back), -EINVAL);
                        buf[9] ^= 1;
                        buf[0] = 'X';
                        assert_int_equal(digest_ctx_import(buf, n, &back), -EINVAL);
                        digest_ctx_free(c);
                        digest_ctx_free(back);
                }
        }
}

static void test_rel_path(void **state) {
        char buf[DIGEST_PATH_MAX];
        digest_t d;
        (void) state;
        assert_int_equal(digest_parse("sha256:" HEX256_ABC, &d), 0);
        assert_int_equal(digest_rel_path(&d, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "sha256/ba/" HEX256_ABC);
        assert_int_equal(digest_parse("sha512:" HEX512_ABC, &d), 0);
        assert_int_equal(digest_rel_path(&d, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "sha512/dd/" HEX512_ABC);
}

static void test_rel_path_too_small(void **state) {
        char buf[16];
        digest_t d;
        (void) state;
        assert_int_equal(digest_parse("sha256:" HEX256_ABC, &d), 0);
        assert_int_equal(digest_rel_path(&d, buf, sizeof(buf)), -ENAMETOOLONG);
}

static void test_alg_parse(void **state) {
        digest_alg_t a = DIGEST_SHA512;
        (void) state;
        assert_int_equal(digest_alg_parse("sha256", &a), 0);
        assert_int_equal(a, DIGEST_SHA256);
        assert_int_equal(digest_alg_parse("sha1", &a), BERTH_EDIGEST_INVALID);
        assert_int_equal(digest_alg_parse(NULL, &a), BERTH_EDIGEST_INVALID);
        assert_int_equal(a, DIGEST_SHA256);
        assert_int_equal(digest_alg_hex_len(DIGEST_SHA512), 128);
        assert_string_equal(digest_alg_name(DIGEST_SHA512), "sha512");
}

static void test_equal(void **state) {
        digest_t a, b, c;
        (void) state;
        assert_int_equal(digest_parse("sha256:" HEX256_ABC, &a), 0);
        assert_int_equal(digest_parse("sha256:" HEX256_ABC, &b), 0);
        assert_int_equal(digest_parse("sha256:" HEX256_EMPTY, &c), 0);
        assert_true(digest_equal(&a, &b));
        assert_false(digest_equal(&a, &c));
}

/* One rule, for the server's manifest routes and the metadata layer: a reference
 * with ':' names a digest (a tag never holds one), valid or not. */
static void test_ref_is_digest(void **state) {
        (void) state;
        assert_true(digest_ref_is_digest("sha256:abc"));
        assert_true(digest_ref_is_digest("sha512:abc"));
        assert_true(digest_ref_is_digest("md5:abc"));
        assert_false(digest_ref_is_digest("latest"));
        assert_false(digest_ref_is_digest("sha256"));
        assert_false(digest_ref_is_digest("v1.2_3-x"));
        assert_false(digest_ref_is_digest(NULL));
}

int main(void) {
        const struct CMUnitTest t[] = {
                cmocka_unit_test(test_parse_sha256),
                cmocka_unit_test(test_export_import),
                cmocka_unit_test(test_ref_is_digest),
                cmocka_unit_test(test_parse_sha512),
                cmocka_unit_test(test_parse_uppercase_hex_rejected),
                cmocka_unit_test(test_parse_wrong_length),
                cmocka_unit_test(test_parse_unknown_algorithm),
                cmocka_unit_test(test_parse_missing_colon),
                cmocka_unit_test(test_parse_n_embedded_nul),
                cmocka_unit_test(test_parse_n_uses_length),
                cmocka_unit_test(test_parse_failure_leaves_output),
                cmocka_unit_test(test_hash_sha256_empty),
                cmocka_unit_test(test_hash_sha256_abc),
                cmocka_unit_test(test_hash_sha512_abc),
                cmocka_unit_test(test_incremental_equals_oneshot),
                cmocka_unit_test(test_peek_leaves_context_usable),
                cmocka_unit_test(test_rel_path),
                cmocka_unit_test(test_rel_path_too_small),
                cmocka_unit_test(test_alg_parse),
                cmocka_unit_test(test_equal),
        };
        return cmocka_run_group_tests(t, NULL, NULL);
}
