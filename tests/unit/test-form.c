/* tests/unit/test-form.c: the form-body reader of the token endpoint. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "server/form.h"

#define V(body, key, out) http_form_value(body, strlen(body), key, out, sizeof(out))

static void test_values_decoded(void **state) {
        char out[64];

        (void) state;
        assert_int_equal(V("grant_type=password&username=bob&password=p%40ss+word", "password", out), 1);
        assert_string_equal(out, "p@ss word");
        assert_int_equal(V("grant_type=password&username=bob", "username", out), 1);
        assert_string_equal(out, "bob");
        assert_int_equal(V("a=1&a=2", "a", out), 1);
        assert_string_equal(out, "1");
        assert_int_equal(V("x=", "x", out), 1);
        assert_string_equal(out, "");
}

static void test_keys_match_whole(void **state) {
        char out[64];

        (void) state;
        assert_int_equal(V("username2=x&xusername=y", "username", out), 0);
        assert_int_equal(V("username", "username", out), 0);
        assert_int_equal(V("", "username", out), 0);
}

static void test_malformed_rejected(void **state) {
        char out[8];

        (void) state;
        assert_int_equal(V("p=%4", "p", out), -EINVAL);
        assert_int_equal(V("p=%zz", "p", out), -EINVAL);
        assert_int_equal(V("p=%00", "p", out), -EINVAL);         /* no NUL smuggled in */
        assert_int_equal(V("p=12345678", "p", out), -EINVAL);    /* does not fit */
        assert_int_equal(V("p=1234567", "p", out), 1);           /* exactly fits */
}

static void test_not_nul_terminated(void **state) {
        const char body[] = { 'k', '=', 'a', 'b', '&', 'z' };
        char out[8];

        (void) state;
        assert_int_equal(http_form_value(body, 4, "k", out, sizeof(out)), 1);
        assert_string_equal(out, "ab");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_values_decoded),
                cmocka_unit_test(test_keys_match_whole),
                cmocka_unit_test(test_malformed_rejected),
                cmocka_unit_test(test_not_nul_terminated),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
