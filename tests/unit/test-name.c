/* tests/unit/test-name.c: repository name and tag grammar. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include "common/name.h"

static bool repo(const char *s) {
        return name_repo_valid(s, strlen(s));
}

static bool tag(const char *s) {
        return name_tag_valid(s, strlen(s));
}

/* A string of n characters, each a component char that keeps the name valid. */
static void fill(char *buf, size_t n, char c) {
        memset(buf, c, n);
        buf[n] = '\0';
}

static void test_repo_single_char(void **state) {
        (void) state;
        assert_true(repo("a"));
        assert_true(repo("0"));
}

static void test_repo_two_components(void **state) {
        (void) state;
        assert_true(repo("a/b"));
        assert_true(repo("library/nginx"));
        assert_true(repo("my-org/team.x/app__1/z"));
}

static void test_repo_separators(void **state) {
        (void) state;
        assert_true(repo("a-b"));
        assert_true(repo("a---b"));
        assert_true(repo("a_b"));
        assert_true(repo("a__b"));
        assert_true(repo("a.b"));
        assert_true(repo("a.b-c_d__e"));
}

static void test_repo_max_length(void **state) {
        char buf[NAME_REPO_MAX + 2];
        (void) state;
        fill(buf, NAME_REPO_MAX, 'a');
        assert_true(name_repo_valid(buf, NAME_REPO_MAX));
        /* also with slashes spread inside */
        for (size_t i = 2; i < NAME_REPO_MAX - 1; i += 10)
                buf[i] = '/';
        assert_true(name_repo_valid(buf, NAME_REPO_MAX));
}

static void test_repo_too_long(void **state) {
        char buf[NAME_REPO_MAX + 2];
        (void) state;
        fill(buf, NAME_REPO_MAX + 1, 'a');
        assert_false(name_repo_valid(buf, NAME_REPO_MAX + 1));
}

static void test_repo_empty(void **state) {
        (void) state;
        assert_false(repo(""));
        assert_false(name_repo_valid(NULL, 0));
        assert_false(name_repo_valid(NULL, 3));
}

static void test_repo_uppercase(void **state) {
        (void) state;
        assert_false(repo("A"));
        assert_false(repo("library/Nginx"));
}

static void test_repo_bad_slashes(void **state) {
        (void) state;
        assert_false(repo("a/"));
        assert_false(repo("/a"));
        assert_false(repo("a//b"));
        assert_false(repo("/"));
}

static void test_repo_leading_trailing_separator(void **state) {
        (void) state;
        assert_false(repo("-a"));
        assert_false(repo("a-"));
        assert_false(repo("_a"));
        assert_false(repo("a_"));
        assert_false(repo(".a"));
        assert_false(repo("a."));
        assert_false(repo("a/-b"));
        assert_false(repo("a-/b"));
}

static void test_repo_bad_separator_runs(void **state) {
        (void) state;
        assert_false(repo("a___b"));
        assert_false(repo("a..b"));
        assert_false(repo("a._b"));
        assert_false(repo("a-_b"));
        assert_false(repo("a_-b"));
        assert_false(repo("a-.b"));
}

static void test_repo_dot_components(void **state) {
        (void) state;
        assert_false(repo("."));
        assert_false(repo(".."));
        assert_false(repo("a/../b"));
        assert_false(repo("a/./b"));
        assert_false(repo("../a"));
}

static void test_repo_embedded_nul(void **state) {
        (void) state;
        assert_false(name_repo_valid("a\0b", 3));
        assert_false(name_repo_valid("ab\0", 3));
        /* the length is what counts, not the terminator */
        assert_true(name_repo_valid("ab\0", 2));
}

static void test_repo_other_chars(void **state) {
        (void) state;
        assert_false(repo("a b"));
        assert_false(repo("a:b"));
        assert_false(repo("a@b"));
        assert_false(repo("a\\b"));
        assert_false(repo("a\nb"));
        assert_false(repo("caf\xc3\xa9"));
}

static void test_tag_valid(void **state) {
        (void) state;
        assert_true(tag("latest"));
        assert_true(tag("v1.0.1"));
        assert_true(tag("_x"));
        assert_true(tag("A"));
        assert_true(tag("1.2-rc_3"));
}

static void test_tag_max_length(void **state) {
        char buf[NAME_TAG_MAX + 2];
        (void) state;
        fill(buf, NAME_TAG_MAX, 'x');
        assert_true(name_tag_valid(buf, NAME_TAG_MAX));
}

static void test_tag_too_long(void **state) {
        char buf[NAME_TAG_MAX + 2];
        (void) state;
        fill(buf, NAME_TAG_MAX + 1, 'x');
        assert_false(name_tag_valid(buf, NAME_TAG_MAX + 1));
}

static void test_tag_bad_first_char(void **state) {
        (void) state;
        assert_false(tag(".x"));
        assert_false(tag("-x"));
        assert_false(tag("."));
        assert_false(tag(".."));
}

static void test_tag_bad_chars(void **state) {
        (void) state;
        assert_false(tag("a:b"));
        assert_false(tag("a/b"));
        assert_false(tag("a b"));
        assert_false(tag("a@b"));
        assert_false(name_tag_valid("a\0b", 3));
}

static void test_tag_empty(void **state) {
        (void) state;
        assert_false(tag(""));
        assert_false(name_tag_valid(NULL, 0));
}

int main(void) {
        const struct CMUnitTest t[] = {
                cmocka_unit_test(test_repo_single_char),
                cmocka_unit_test(test_repo_two_components),
                cmocka_unit_test(test_repo_separators),
                cmocka_unit_test(test_repo_max_length),
                cmocka_unit_test(test_repo_too_long),
                cmocka_unit_test(test_repo_empty),
                cmocka_unit_test(test_repo_uppercase),
                cmocka_unit_test(test_repo_bad_slashes),
                cmocka_unit_test(test_repo_leading_trailing_separator),
                cmocka_unit_test(test_repo_bad_separator_runs),
                cmocka_unit_test(test_repo_dot_components),
                cmocka_unit_test(test_repo_embedded_nul),
                cmocka_unit_test(test_repo_other_chars),
                cmocka_unit_test(test_tag_valid),
                cmocka_unit_test(test_tag_max_length),
                cmocka_unit_test(test_tag_too_long),
                cmocka_unit_test(test_tag_bad_first_char),
                cmocka_unit_test(test_tag_bad_chars),
                cmocka_unit_test(test_tag_empty),
        };
        return cmocka_run_group_tests(t, NULL, NULL);
}
