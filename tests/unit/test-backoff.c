/* tests/unit/test-backoff.c: the kubelet's image pull back-off schedule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>
#include "client/backoff.h"

static void test_schedule(void **s) {
        static const int64_t want[] = { 10, 20, 40, 80, 160, 300, 300, 300 };
        backoff_entry_t e = { 0 };
        int64_t t = 1000;
        (void) s;
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
                backoff_fail(&e, t);
                assert_int_equal(e.delay_s, want[i]);
                assert_int_equal(e.last, t);
                t += e.delay_s; /* retry right when allowed, fail again */
        }
}

static void test_window(void **s) {
        backoff_entry_t e = { 0 };
        int64_t rem = -1;
        (void) s;
        assert_false(backoff_active(&e, 5, NULL)); /* no entry */
        backoff_fail(&e, 100);
        assert_true(backoff_active(&e, 100, &rem));
        assert_int_equal(rem, 10);
        assert_true(backoff_active(&e, 109, &rem));
        assert_int_equal(rem, 1);
        assert_false(backoff_active(&e, 110, NULL));
}

static void test_reset_after_600s(void **s) {
        backoff_entry_t e = { 0 };
        (void) s;
        backoff_fail(&e, 0);
        backoff_fail(&e, 10);
        backoff_fail(&e, 30);
        assert_int_equal(e.delay_s, 40);
        backoff_fail(&e, 30 + 600); /* exactly 600 s: not yet forgotten */
        assert_int_equal(e.delay_s, 80);
        backoff_fail(&e, 630 + 601);
        assert_int_equal(e.delay_s, 10);
        assert_true(backoff_expired(&e, 1231 + 601));
        assert_false(backoff_expired(&e, 1231 + 600));
}

static void test_file(void **s) {
        char dir[] = "/tmp/test-backoff-XXXXXX", path[64];
        backoff_entry_t e;
        (void) s;
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/backoff.json", dir);
        assert_int_equal(backoff_file_get(path, "a", &e), 0); /* missing file */
        assert_int_equal(e.delay_s, 0);
        assert_int_equal(backoff_file_update(path, "a", true, 1000), 0);
        assert_int_equal(backoff_file_update(path, "a", true, 1010), 0);
        assert_int_equal(backoff_file_update(path, "b", true, 1010), 0);
        assert_int_equal(backoff_file_get(path, "a", &e), 0);
        assert_int_equal(e.delay_s, 20);
        assert_int_equal(e.last, 1010);
        assert_int_equal(backoff_file_update(path, "a", false, 1011), 0); /* success forgets */
        assert_int_equal(backoff_file_get(path, "a", &e), 0);
        assert_int_equal(e.delay_s, 0);
        assert_int_equal(backoff_file_get(path, "b", &e), 0);
        assert_int_equal(e.delay_s, 10);
        /* old entries are dropped on the next write */
        assert_int_equal(backoff_file_update(path, "c", true, 5000), 0);
        assert_int_equal(backoff_file_get(path, "b", &e), 0);
        assert_int_equal(e.delay_s, 0);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
}

int main(void) {
        const struct CMUnitTest t[] = {
                cmocka_unit_test(test_schedule),
                cmocka_unit_test(test_window),
                cmocka_unit_test(test_reset_after_600s),
                cmocka_unit_test(test_file),
        };
        return cmocka_run_group_tests(t, NULL, NULL);
}
