/* tests/unit/test-yaml.c: the YAML subset behind Secret files (client/yaml.c), piece
 * by piece; tests/unit/test-dockercfg.c covers whole Secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "client/yaml.h"
#include "common/err.h"

static void test_lines_strip_newline_and_cr(void **s) {
        static const char in[] = "a: 1\r\nb: 2\n\nlast";
        yaml_lines_t l = { .p = in, .end = in + strlen(in) };
        const char *line;
        size_t n;

        (void) s;
        assert_true(yaml_next_line(&l, &line, &n));
        assert_int_equal(n, 4);
        assert_memory_equal(line, "a: 1", 4);
        assert_true(yaml_next_line(&l, &line, &n));
        assert_memory_equal(line, "b: 2", n);
        assert_true(yaml_next_line(&l, &line, &n));
        assert_int_equal(n, 0);
        assert_true(yaml_next_line(&l, &line, &n)); /* no newline at the end */
        assert_int_equal(n, 4);
        assert_memory_equal(line, "last", 4);
        assert_int_equal(l.lineno, 4);
        assert_false(yaml_next_line(&l, &line, &n));
}

static void test_indent_blank_comment(void **s) {
        (void) s;
        assert_int_equal(yaml_indent("   x", 4), 3);
        assert_int_equal(yaml_indent("\tx", 2), 0); /* tabs are not indentation */
        assert_true(yaml_blank_or_comment("    ", 4));
        assert_true(yaml_blank_or_comment("  # note", 8));
        assert_true(yaml_blank_or_comment("", 0));
        assert_false(yaml_blank_or_comment("  a: # note", 11));
}

static void key(const char *line, const char *want_key, const char *want_rest) {
        const char *k, *rest;
        size_t klen, rlen;

        assert_true(yaml_key(line, strlen(line), &k, &klen, &rest, &rlen));
        assert_int_equal(klen, strlen(want_key));
        assert_memory_equal(k, want_key, klen);
        assert_int_equal(rlen, strlen(want_rest));
        assert_memory_equal(rest, want_rest, rlen);
}

static void not_key(const char *line) {
        const char *k, *rest;
        size_t klen, rlen;

        assert_false(yaml_key(line, strlen(line), &k, &klen, &rest, &rlen));
}

static void test_key_lines(void **s) {
        (void) s;
        key("kind: Secret", "kind", "Secret");
        key("data:", "data", "");
        key("type:    kubernetes.io/dockerconfigjson", "type", "kubernetes.io/dockerconfigjson");
        key("url: https://reg.example:5000/v2/", "url", "https://reg.example:5000/v2/");
        key("\".dockerconfigjson\": abc", ".dockerconfigjson", "abc");
        key("'.dockercfg': |", ".dockercfg", "|");
        not_key("- item");
        not_key("# comment");
        not_key("a:b");
        not_key("no colon here");
        not_key("\"esc\\aped\": x");
        not_key("\"unterminated: x");
        assert_true(yaml_span_is("kind", 4, "kind"));
        assert_false(yaml_span_is("kind", 4, "kinds"));
        assert_false(yaml_span_is("kinds", 4, "kinds"));
}

static void scalar(const char *in, const char *want) {
        char *out = NULL, chomp = 0;
        const char *detail = NULL;
        size_t len = 0;

        assert_int_equal(yaml_scalar(in, strlen(in), &out, &len, &chomp, &detail), 0);
        assert_int_equal(len, strlen(want));
        assert_string_equal(out, want);
        free(out);
}

static void bad_scalar(const char *in) {
        char *out = NULL, chomp = 0;
        const char *detail = NULL;
        size_t len = 0;

        assert_int_equal(yaml_scalar(in, strlen(in), &out, &len, &chomp, &detail), BERTH_ECONFIG);
        assert_non_null(detail);
        assert_true(strncmp(detail, "YAML: ", 6) == 0);
        assert_null(out);
}

static void test_scalars(void **s) {
        (void) s;
        scalar("Secret", "Secret");
        scalar("Secret   # the kind", "Secret");
        scalar("a#b", "a#b");                    /* a comment needs a space before # */
        scalar("'it''s # not a comment'", "it's # not a comment");
        scalar("\"tab\\there\\n\\\"q\\\" \\\\ \\/\"", "tab\there\n\"q\" \\ /");
        scalar("\"quoted\"   # after", "quoted");
        scalar("{}", "");
        scalar("", "");
        bad_scalar("\"\\u0041\"");               /* unsupported escape */
        bad_scalar("'unterminated");
        bad_scalar("\"unterminated");
        bad_scalar("\"x\" trailing");
        bad_scalar("> folded");
        bad_scalar("&anchor value");
        bad_scalar("*alias");
        bad_scalar("!!binary abc");
        bad_scalar("[a, b]");
        bad_scalar("{a: b}");
        bad_scalar("|x");
}

static void test_block_header(void **s) {
        char *out = NULL, chomp = 0;
        const char *detail = NULL;
        size_t len = 0;

        (void) s;
        assert_int_equal(yaml_scalar("|", 1, &out, &len, &chomp, &detail), 1);
        assert_int_equal(chomp, 'c');
        assert_int_equal(yaml_scalar("|-  # strip", 11, &out, &len, &chomp, &detail), 1);
        assert_int_equal(chomp, '-');
        assert_int_equal(yaml_scalar("|+", 2, &out, &len, &chomp, &detail), 1);
        assert_int_equal(chomp, '+');
        assert_null(out);
}

/* the block after a "key: |" line indented 2, followed by "  next: x" */
static void block(char chomp, const char *want) {
        static const char in[] = "    {\"auths\": {}}\n"
                                 "      nested\n"
                                 "\n"
                                 "    end\n"
                                 "\n"
                                 "  next: x\n";
        yaml_lines_t l = { .p = in, .end = in + strlen(in) };
        const char *detail = NULL, *line;
        char *out = NULL;
        size_t len = 0, n;

        assert_int_equal(yaml_block(&l, 2, chomp, &out, &len, &detail), 0);
        assert_int_equal(len, strlen(want));
        assert_string_equal(out, want);
        free(out);
        /* the line that ended the block comes next */
        assert_true(yaml_next_line(&l, &line, &n));
        assert_memory_equal(line, "  next: x", n);
}

static void test_block_chomping(void **s) {
        (void) s;
        block('c', "{\"auths\": {}}\n  nested\n\nend\n");
        block('-', "{\"auths\": {}}\n  nested\n\nend");
        block('+', "{\"auths\": {}}\n  nested\n\nend\n\n");
}

static void test_block_empty_and_bad_indentation(void **s) {
        static const char empty[] = "next: x\n";
        static const char bad[] = "      deep\n    shallower\n";
        yaml_lines_t l = { .p = empty, .end = empty + strlen(empty) };
        const char *detail = NULL;
        char *out = NULL;
        size_t len = 9;

        (void) s;
        assert_int_equal(yaml_block(&l, 0, 'c', &out, &len, &detail), 0);
        assert_string_equal(out, "");
        assert_int_equal(len, 0);
        free(out);
        out = NULL;
        l = (yaml_lines_t) { .p = bad, .end = bad + strlen(bad) };
        assert_int_equal(yaml_block(&l, 2, 'c', &out, &len, &detail), BERTH_ECONFIG);
        assert_string_equal(detail, "YAML: bad indentation in a literal block");
        assert_null(out);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lines_strip_newline_and_cr),
                cmocka_unit_test(test_indent_blank_comment),
                cmocka_unit_test(test_key_lines),
                cmocka_unit_test(test_scalars),
                cmocka_unit_test(test_block_header),
                cmocka_unit_test(test_block_chomping),
                cmocka_unit_test(test_block_empty_and_bad_indentation),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
