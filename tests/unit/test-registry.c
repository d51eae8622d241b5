/* tests/unit/test-registry.c: parsing of a registry's answer headers: WWW-Authenticate
 * challenges, Link (tag listing pages), RateLimit-* (no network). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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

static void test_ratelimit(void **s) {
        int64_t n = -1, w = -1;
        (void) s;

        /* Docker Hub's form */
        assert_int_equal(registry_ratelimit_parse("100;w=21600", &n, &w), 0);
        assert_int_equal(n, 100);
        assert_int_equal(w, 21600);
        assert_int_equal(registry_ratelimit_parse(" 0 ; W=60 ; policy=\"x\"", &n, &w), 0);
        assert_int_equal(n, 0);
        assert_int_equal(w, 60);
        /* a bare count; several items: the first one's */
        assert_int_equal(registry_ratelimit_parse("42", &n, &w), 0);
        assert_int_equal(n, 42);
        assert_int_equal(w, 0);
        assert_int_equal(registry_ratelimit_parse("10;w=1, 500;w=3600", &n, &w), 0);
        assert_int_equal(n, 10);
        assert_int_equal(w, 1);
        assert_int_equal(registry_ratelimit_parse("", &n, &w), -EINVAL);
        assert_int_equal(registry_ratelimit_parse("-1", &n, &w), -EINVAL);
        assert_int_equal(registry_ratelimit_parse("12abc", &n, &w), -EINVAL);
        assert_int_equal(registry_ratelimit_parse("5;w=", &n, &w), -EINVAL);
        assert_int_equal(registry_ratelimit_parse("99999999999999999999", &n, &w), -EINVAL);
}

static void test_link_next(void **s) {
        char *u = NULL;
        (void) s;

        assert_int_equal(registry_link_next("</v2/a/tags/list?last=b&n=2>; rel=\"next\"", &u), 1);
        assert_string_equal(u, "/v2/a/tags/list?last=b&n=2");
        free(u);
        /* the next among several, a quoted comma, a rel with two types */
        assert_int_equal(registry_link_next("<https://x/first>; rel=\"first\"; title=\"a, b\", "
                                            "<https://x/2>; rel=\"prev next\"", &u), 1);
        assert_string_equal(u, "https://x/2");
        free(u);
        assert_int_equal(registry_link_next("<https://x/2>; rel=next", &u), 1);
        assert_string_equal(u, "https://x/2");
        free(u);
        /* none, or not a Link value */
        assert_int_equal(registry_link_next("<https://x/1>; rel=\"prev\"", &u), 0);
        assert_null(u);
        assert_int_equal(registry_link_next("", &u), 0);
        assert_int_equal(registry_link_next("https://x/2; rel=next", &u), -EINVAL);
        assert_int_equal(registry_link_next("<https://x/2; rel=next", &u), -EINVAL);
        assert_int_equal(registry_link_next("<a>; title=\"open", &u), -EINVAL);
        /* "nextpage" is not next */
        assert_int_equal(registry_link_next("<a>; rel=\"nextpage\"", &u), 0);
}

int main(void) {
        const struct CMUnitTest t[] = {
                cmocka_unit_test(test_bearer),
                cmocka_unit_test(test_basic),
                cmocka_unit_test(test_rejects),
                cmocka_unit_test(test_ratelimit),
                cmocka_unit_test(test_link_next),
        };
        return cmocka_run_group_tests(t, NULL, NULL);
}
