/* tests/unit/test-platform.c: platform parsing, normalization and containerd's order. */
#include <setjmp.h>
#include <stdarg.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "client/platform.h"

static platform_t P(const char *s) {
        platform_t p;
        assert_int_equal(platform_parse(s, &p), 0);
        return p;
}

static void test_parse_normalize(void **s) {
        platform_t p;
        char buf[96];
        (void) s;
        p = P("linux/aarch64");
        platform_format(&p, buf, sizeof(buf));
        assert_string_equal(buf, "linux/arm64");
        p = P("linux/arm64/v8");
        assert_string_equal(p.variant, "");
        p = P("linux/arm");
        assert_string_equal(p.variant, "v7");
        p = P("Linux/x86_64");
        platform_format(&p, buf, sizeof(buf));
        assert_string_equal(buf, "linux/amd64");
        p = P("linux/armhf");
        platform_format(&p, buf, sizeof(buf));
        assert_string_equal(buf, "linux/arm/v7");
        assert_int_equal(platform_parse("linux", &p), -EINVAL);
        assert_int_equal(platform_parse("linux//v7", &p), -EINVAL);
        assert_int_equal(platform_parse("a/b/c/d", &p), -EINVAL);
        assert_int_equal(platform_parse("linux/am d64", &p), -EINVAL);
}

static void test_rank(void **s) {
        platform_t amd = P("linux/amd64"), arm7 = P("linux/arm/v7"), arm64 = P("linux/arm64"), v3 = P("linux/amd64/v3");
        (void) s;
        assert_int_equal(platform_rank(&amd, "linux", "amd64", NULL), 0);
        assert_int_equal(platform_rank(&amd, "linux", "amd64", "v1"), 0);
        assert_int_equal(platform_rank(&amd, "linux", "amd64", "v2"), -1);
        assert_true(platform_rank(&amd, "linux", "386", NULL) > 0);
        assert_int_equal(platform_rank(&amd, "windows", "amd64", NULL), -1);
        assert_int_equal(platform_rank(&amd, "linux", "arm64", NULL), -1);
        assert_int_equal(platform_rank(&arm7, "linux", "arm", NULL), 0);  /* arm defaults to v7 */
        assert_int_equal(platform_rank(&arm7, "linux", "arm", "v7"), 0);
        assert_true(platform_rank(&arm7, "linux", "arm", "v6") > 0);
        assert_true(platform_rank(&arm7, "linux", "arm", "v6") < platform_rank(&arm7, "linux", "arm", "v5"));
        assert_int_equal(platform_rank(&arm7, "linux", "arm", "v8"), -1);
        assert_int_equal(platform_rank(&arm64, "linux", "arm64", "v8"), 0);
        assert_int_equal(platform_rank(&arm64, "linux", "aarch64", NULL), 0);
        assert_true(platform_rank(&arm64, "linux", "arm", "v7") > 0);
        assert_int_equal(platform_rank(&v3, "linux", "amd64", "v3"), 0);
        assert_true(platform_rank(&v3, "linux", "amd64", "v2") > 0);
        assert_true(platform_rank(&v3, "linux", "amd64", NULL) > platform_rank(&v3, "linux", "amd64", "v2"));
        assert_int_equal(platform_rank(&amd, NULL, "amd64", NULL), -1);
}

static void test_default(void **s) {
        platform_t p;
        (void) s;
        platform_default(&p);
        assert_string_equal(p.os, "linux");
        assert_true(strlen(p.arch) > 0);
        assert_int_equal(platform_rank(&p, p.os, p.arch, p.variant[0] ? p.variant : NULL), 0);
}

int main(void) {
        const struct CMUnitTest t[] = {
                cmocka_unit_test(test_parse_normalize),
                cmocka_unit_test(test_rank),
                cmocka_unit_test(test_default),
        };
        return cmocka_run_group_tests(t, NULL, NULL);
}
