/* tests/unit/test-base64.c: common/base64 (RFC 4648 vectors, strictness). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "common/base64.h"

static const struct {
        const char *raw, *std, *url;
} vectors[] = {
        { "", "", "" },
        { "f", "Zg==", "Zg" },
        { "fo", "Zm8=", "Zm8" },
        { "foo", "Zm9v", "Zm9v" },
        { "foob", "Zm9vYg==", "Zm9vYg" },
        { "fooba", "Zm9vYmE=", "Zm9vYmE" },
        { "foobar", "Zm9vYmFy", "Zm9vYmFy" },
};

static void test_rfc4648_vectors_round_trip(void **state) {
        (void) state;
        for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
                size_t n = strlen(vectors[i].raw);
                char out[16];
                uint8_t back[16];
                char *alloc;

                assert_int_equal(base64_encoded_len(BASE64_STD, n), strlen(vectors[i].std));
                assert_int_equal(base64_encoded_len(BASE64_URL, n), strlen(vectors[i].url));
                base64_encode(BASE64_STD, vectors[i].raw, n, out);
                assert_string_equal(out, vectors[i].std);
                base64_encode(BASE64_URL, vectors[i].raw, n, out);
                assert_string_equal(out, vectors[i].url);
                alloc = base64_encode_alloc(BASE64_STD, vectors[i].raw, n);
                assert_non_null(alloc);
                assert_string_equal(alloc, vectors[i].std);
                free(alloc);
                assert_int_equal(base64_decode(BASE64_STD, vectors[i].std, strlen(vectors[i].std), back,
                                               sizeof(back)), (long) n);
                assert_memory_equal(back, vectors[i].raw, n);
                assert_int_equal(base64_decode(BASE64_URL, vectors[i].url, strlen(vectors[i].url), back,
                                               sizeof(back)), (long) n);
                assert_memory_equal(back, vectors[i].raw, n);
        }
}

static void test_alphabets_differ_in_two_characters(void **state) {
        static const uint8_t raw[] = { 0xfb, 0xff };
        char out[8];
        uint8_t back[4];

        (void) state;
        base64_encode(BASE64_STD, raw, sizeof(raw), out);
        assert_string_equal(out, "+/8=");
        base64_encode(BASE64_URL, raw, sizeof(raw), out);
        assert_string_equal(out, "-_8");
        assert_int_equal(base64_decode(BASE64_STD, "-_8=", 4, back, sizeof(back)), -1);
        assert_int_equal(base64_decode(BASE64_URL, "+/8", 3, back, sizeof(back)), -1);
}

static void test_decode_is_strict(void **state) {
        uint8_t back[8];

        (void) state;
        assert_int_equal(base64_decode(BASE64_STD, "Zg", 2, back, sizeof(back)), 1); /* padding optional */
        assert_int_equal(base64_decode(BASE64_STD, "Zg=", 3, back, sizeof(back)), -1); /* half a pad */
        assert_int_equal(base64_decode(BASE64_STD, "Zh==", 4, back, sizeof(back)), -1); /* not canonical */
        assert_int_equal(base64_decode(BASE64_STD, "Z", 1, back, sizeof(back)), -1);
        assert_int_equal(base64_decode(BASE64_STD, "Zm 9v", 5, back, sizeof(back)), -1);
        assert_int_equal(base64_decode(BASE64_STD, "Zg===", 5, back, sizeof(back)), -1);
        assert_int_equal(base64_decode(BASE64_URL, "Zg==", 4, back, sizeof(back)), -1); /* never padded */
        assert_int_equal(base64_decode(BASE64_STD, "Zm9vYmFy", 8, back, 5), -1);       /* no room */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rfc4648_vectors_round_trip),
                cmocka_unit_test(test_alphabets_differ_in_two_characters),
                cmocka_unit_test(test_decode_is_strict),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
