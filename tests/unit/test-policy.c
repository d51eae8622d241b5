/* tests/unit/test-policy.c: the imagePullPolicy defaulting rule and decision table. */
#include <setjmp.h>
#include <stdarg.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "client/policy.h"
#include "common/ref.h"

static policy_t eff(const char *image, policy_t requested, bool app) {
        ref_t *r = NULL;
        policy_t p;

        assert_int_equal(ref_parse(image, &r, NULL), 0);
        p = policy_effective(requested, ref_effective_tag(r), app);
        ref_free(r);
        return p;
}

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_defaulting(void **s) {
        (void) s;
        assert_int_equal(eff("nginx", POLICY_UNSET, false), POLICY_ALWAYS);
        assert_int_equal(eff("nginx:latest", POLICY_UNSET, false), POLICY_ALWAYS);
        assert_int_equal(eff("nginx:1.25", POLICY_UNSET, false), POLICY_IF_NOT_PRESENT);
        assert_int_equal(eff("nginx@" D64, POLICY_UNSET, false), POLICY_IF_NOT_PRESENT);
        assert_int_equal(eff("nginx:latest@" D64, POLICY_UNSET, false), POLICY_ALWAYS);
        assert_int_equal(eff("nginx:v1@" D64, POLICY_UNSET, false), POLICY_IF_NOT_PRESENT);
        assert_int_equal(eff("localhost:5000/x", POLICY_UNSET, false), POLICY_ALWAYS);
        /* "Latest" is just a tag */
        assert_int_equal(eff("nginx:Latest", POLICY_UNSET, false), POLICY_IF_NOT_PRESENT);
}

static void test_explicit_and_admission(void **s) {
        (void) s;
        assert_int_equal(eff("nginx", POLICY_NEVER, false), POLICY_NEVER);
        assert_int_equal(eff("nginx:1", POLICY_ALWAYS, false), POLICY_ALWAYS);
        assert_int_equal(eff("nginx", POLICY_IF_NOT_PRESENT, false), POLICY_IF_NOT_PRESENT);
        assert_int_equal(eff("nginx:1", POLICY_NEVER, true), POLICY_ALWAYS);
        assert_int_equal(eff("nginx:1", POLICY_IF_NOT_PRESENT, true), POLICY_ALWAYS);
        assert_int_equal(eff("nginx@" D64, POLICY_UNSET, true), POLICY_ALWAYS);
}

static void test_parse(void **s) {
        policy_t p = POLICY_UNSET;
        (void) s;
        assert_int_equal(policy_parse("Always", &p), 0);
        assert_int_equal(p, POLICY_ALWAYS);
        assert_int_equal(policy_parse("IfNotPresent", &p), 0);
        assert_int_equal(p, POLICY_IF_NOT_PRESENT);
        assert_int_equal(policy_parse("Never", &p), 0);
        assert_int_equal(p, POLICY_NEVER);
        assert_int_equal(policy_parse("always", &p), -EINVAL);
        assert_int_equal(p, POLICY_NEVER); /* untouched on error */
        assert_int_equal(policy_parse("", &p), -EINVAL);
        assert_string_equal(policy_name(POLICY_IF_NOT_PRESENT), "IfNotPresent");
}

static void test_table(void **s) {
        static const struct {
                policy_t p;
                bool present, verify, backoff;
                policy_action_t a;
                policy_reason_t why;
        } t[] = {
                { POLICY_ALWAYS, false, false, false, ACTION_PULL, REASON_NONE },
                { POLICY_ALWAYS, true, false, false, ACTION_PULL, REASON_NONE },
                { POLICY_ALWAYS, true, true, false, ACTION_PULL, REASON_NONE },
                { POLICY_ALWAYS, true, false, true, ACTION_ERROR, REASON_IMAGE_PULL_BACKOFF },
                { POLICY_ALWAYS, false, false, true, ACTION_ERROR, REASON_IMAGE_PULL_BACKOFF },
                { POLICY_IF_NOT_PRESENT, true, false, false, ACTION_USE_LOCAL, REASON_NONE },
                { POLICY_IF_NOT_PRESENT, true, false, true, ACTION_USE_LOCAL, REASON_NONE },
                { POLICY_IF_NOT_PRESENT, false, false, false, ACTION_PULL, REASON_NONE },
                { POLICY_IF_NOT_PRESENT, false, false, true, ACTION_ERROR, REASON_IMAGE_PULL_BACKOFF },
                { POLICY_IF_NOT_PRESENT, true, true, false, ACTION_VERIFY, REASON_NONE },
                { POLICY_IF_NOT_PRESENT, true, true, true, ACTION_ERROR, REASON_IMAGE_PULL_BACKOFF },
                { POLICY_NEVER, true, false, false, ACTION_USE_LOCAL, REASON_NONE },
                { POLICY_NEVER, true, false, true, ACTION_USE_LOCAL, REASON_NONE },
                { POLICY_NEVER, false, false, false, ACTION_ERROR, REASON_ERR_IMAGE_NEVER_PULL },
                { POLICY_NEVER, false, false, true, ACTION_ERROR, REASON_ERR_IMAGE_NEVER_PULL },
                { POLICY_NEVER, true, true, false, ACTION_ERROR, REASON_ERR_IMAGE_NEVER_PULL },
        };
        (void) s;
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                policy_input_t in = { t[i].p, t[i].present, t[i].verify, t[i].backoff };
                policy_reason_t why = 99;
                policy_action_t a = policy_decide(&in, &why);
                if (a != t[i].a || why != t[i].why)
                        fail_msg("row %zu: action %s reason '%s'", i, policy_action_name(a), policy_reason_name(why));
        }
}

static void test_names(void **s) {
        (void) s;
        assert_string_equal(policy_reason_name(REASON_ERR_IMAGE_NEVER_PULL), "ErrImageNeverPull");
        assert_string_equal(policy_reason_name(REASON_IMAGE_PULL_BACKOFF), "ImagePullBackOff");
        assert_string_equal(policy_reason_name(REASON_INVALID_IMAGE_NAME), "InvalidImageName");
        assert_string_equal(policy_reason_name(REASON_NONE), "");
        assert_string_equal(policy_action_name(ACTION_USE_LOCAL), "use-local");
}

int main(void) {
        const struct CMUnitTest t[] = {
                cmocka_unit_test(test_defaulting),
                cmocka_unit_test(test_explicit_and_admission),
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_names),
        };
        return cmocka_run_group_tests(t, NULL, NULL);
}
