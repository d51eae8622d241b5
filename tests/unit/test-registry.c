/* tests/unit/test-registry.c: WWW-Authenticate challenge parsing (no network). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <cmocka.h>
#include "client/registry.h"

static void test_bearer(void **s) {
        registry_challenge_t c;
        (void) s;
        assert_int_equal(registry_challenge_parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:samalba/my-app:pull,push\"", &c), 0);
        assert_string_equal(c.scheme, "bearer");
        assert_string_equal(c.realm, "https://auth.docker.io/token");
        assert_string_equal(c.service, "registry.docker.io");
        assert_string_equal(c.scope, "repository:samalba/my-app:pull,push");
        registry_challenge_done(&c);
        /* case-insensitive scheme and keys, spaces, unquoted values, unknown keys */
        assert_int_equal(registry_challenge_parse("  BEARER Realm = \"https://a/t\" , error=\"insufficient_scope\", service=reg", &c), 0);
        assert_string_equal(c.realm, "https://a/t");
        assert_string_equal(c.service, "reg");
        assert_null(c.scope);
        registry_challenge_done(&c);
        /* escaped quote inside a quoted string */
        assert_int_equal(registry_challenge_parse("Bearer realm=\"https://a/\\\"x\"", &c), 0);
        assert_string_equal(c.realm, "https://a/\"x");
        registry_challenge_done(&c);
}

static void test_basic(void **s) {
        registry_challenge_t c;
        (void) s;
        assert_int_equal(registry_challenge_parse("Basic realm=\"Registry Realm\"", &c), 0);
        assert_string_equal(c.scheme, "basic");
        assert_string_equal(c.realm, "Registry Realm");
        registry_challenge_done(&c);
        assert_int_equal(registry_challenge_parse("Basic", &c), 0);
        assert_null(c.realm);
        registry_challenge_done(&c);
}

static void test_rejects(void **s) {
        registry_challenge_t c;
        (void) s;
        assert_int_equal(registry_challenge_parse("Bearer service=\"x\"", &c), -EINVAL); /* no realm */
        assert_int_equal(registry_challenge_parse("Negotiate abc", &c), -EINVAL);
        assert_int_equal(registry_challenge_parse("", &c), -EINVAL);
        assert_int_equal(registry_challenge_parse("Bearer realm=\"unterminated", &c), -EINVAL);
        assert_int_equal(registry_challenge_parse("Bearer realm", &c), -EINVAL);
        assert_int_equal(registry_challenge_parse(NULL, &c), -EINVAL);
}

int main(void) {
        const struct CMUnitTest t[] = {
                cmocka_unit_test(test_bearer),
                cmocka_unit_test(test_basic),
                cmocka_unit_test(test_rejects),
        };
        return cmocka_run_group_tests(t, NULL, NULL);
}
