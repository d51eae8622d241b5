/* tests/unit/test-ranges.c: the byte-range header parsers of the server. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "server/ranges.h"

static void test_content_range_forms(void **state) {
        uint64_t a = 7, b = 7;

        (void) state;
        assert_int_equal(http_content_range_parse("0-99", &a, &b), 0);
        assert_int_equal(a, 0);
        assert_int_equal(b, 99);
        assert_int_equal(http_content_range_parse("bytes 100-199/1000", &a, &b), 0);
        assert_int_equal(a, 100);
        assert_int_equal(b, 199);
        assert_int_equal(http_content_range_parse("bytes=5-5", &a, &b), 0);
        assert_int_equal(a, 5);
        assert_int_equal(b, 5);
}

static void test_content_range_rejects(void **state) {
        static const char *const bad[] = {
                "", "-", "5", "5-", "-5", "a-b", "10-9", " 0-1", "0 -1", "0-1x", "+0-1",
                "0-18446744073709551616",        /* 2^64 */
                "99999999999999999999-99999999999999999999",
        };
        uint64_t a = 7, b = 7;

        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(http_content_range_parse(bad[i], &a, &b), -EINVAL);
        assert_int_equal(http_content_range_parse("0-18446744073709551615", &a, &b), 0);
        assert_true(b == UINT64_MAX);
}

static void test_range_forms(void **state) {
        uint64_t off, len;

        (void) state;
        assert_int_equal(http_range_parse("bytes=0-9", 100, &off, &len), 0);
        assert_int_equal(off, 0);
        assert_int_equal(len, 10);
        assert_int_equal(http_range_parse("bytes=90-", 100, &off, &len), 0);
        assert_int_equal(off, 90);
        assert_int_equal(len, 10);
        assert_int_equal(http_range_parse("bytes=-30", 100, &off, &len), 0);
        assert_int_equal(off, 70);
        assert_int_equal(len, 30);
        /* an end past the body is clamped; a suffix longer than the body is all of it */
        assert_int_equal(http_range_parse("bytes=50-500", 100, &off, &len), 0);
        assert_int_equal(len, 50);
        assert_int_equal(http_range_parse("bytes=-500", 100, &off, &len), 0);
        assert_int_equal(off, 0);
        assert_int_equal(len, 100);
}

static void test_range_rejects(void **state) {
        uint64_t off = 1, len = 1;

        (void) state;
        assert_int_equal(http_range_parse("bytes=100-", 100, &off, &len), -ERANGE);
        assert_int_equal(http_range_parse("bytes=100-200", 100, &off, &len), -ERANGE);
        assert_int_equal(http_range_parse("bytes=5-4", 100, &off, &len), -EINVAL);
        assert_int_equal(http_range_parse("bytes=0-1,5-6", 100, &off, &len), -EINVAL);
        assert_int_equal(http_range_parse("items=0-1", 100, &off, &len), -EINVAL);
        assert_int_equal(http_range_parse("bytes=-0", 100, &off, &len), -EINVAL);
        assert_int_equal(http_range_parse("bytes=-5", 0, &off, &len), -EINVAL);
        assert_int_equal(http_range_parse("bytes=", 100, &off, &len), -EINVAL);
        assert_int_equal(http_range_parse("bytes=x-1", 100, &off, &len), -EINVAL);
        assert_int_equal(off, 1); /* untouched on failure */
        assert_int_equal(len, 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_content_range_forms),
                cmocka_unit_test(test_content_range_rejects),
                cmocka_unit_test(test_range_forms),
                cmocka_unit_test(test_range_rejects),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
