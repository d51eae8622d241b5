/* tests/unit/test-negotiate.c: the web UI's request-header readers (server/negotiate.c):
 * Accept, Accept-Encoding and If-None-Match, as browsers, curl and caches send them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "server/negotiate.h"

static void test_accept_html(void **state) {
        (void) state;
        /* Chromium's and Firefox's navigation Accept */
        assert_true(negotiate_accepts_html("text/html,application/xhtml+xml,application/xml;q=0.9,"
                                           "image/avif,image/webp,*/*;q=0.8"));
        assert_true(negotiate_accepts_html("TEXT/HTML"));
        assert_true(negotiate_accepts_html(" application/json , text/html ; charset=utf-8"));
        assert_true(negotiate_accepts_html("text/*"));
        assert_true(negotiate_accepts_html("text/html;level=1;q=0.5"));
}

static void test_accept_not_html(void **state) {
        (void) state;
        assert_false(negotiate_accepts_html(NULL));
        assert_false(negotiate_accepts_html(""));
        assert_false(negotiate_accepts_html("*/*"));                 /* curl */
        assert_false(negotiate_accepts_html("application/json"));
        assert_false(negotiate_accepts_html("text/html;q=0"));
        assert_false(negotiate_accepts_html("text/html;q=0.000"));
        assert_false(negotiate_accepts_html("text/html;q=2"));       /* garbled q: ignored */
        assert_false(negotiate_accepts_html("text/html;q=0.0001"));
        assert_false(negotiate_accepts_html("text/htmlx"));
        assert_false(negotiate_accepts_html("texthtml"));
        assert_false(negotiate_accepts_html(",,,;"));
}

static void test_accept_encoding(void **state) {
        (void) state;
        assert_true(negotiate_accepts_gzip("gzip, deflate, br, zstd"));  /* Chromium */
        assert_true(negotiate_accepts_gzip("deflate, GZIP"));
        assert_true(negotiate_accepts_gzip("x-gzip"));
        assert_true(negotiate_accepts_gzip("*"));
        assert_true(negotiate_accepts_gzip("br;q=1.0, gzip;q=0.5"));
        assert_true(negotiate_accepts_gzip("gzip;q=0, gzip;q=1"));      /* the best of both */
        assert_false(negotiate_accepts_gzip(NULL));
        assert_false(negotiate_accepts_gzip(""));
        assert_false(negotiate_accepts_gzip("identity"));
        assert_false(negotiate_accepts_gzip("gzip;q=0"));
        assert_false(negotiate_accepts_gzip("gzip ; q=0.0"));
        assert_false(negotiate_accepts_gzip("*;q=0"));
        assert_false(negotiate_accepts_gzip("gzip;q=0, *"));             /* named beats * */
        assert_false(negotiate_accepts_gzip("gzipx, xgzip"));
        assert_false(negotiate_accepts_gzip("gzip;q=x"));
}

static void test_etag(void **state) {
        (void) state;
        assert_true(negotiate_etag_match("\"abc\"", "\"abc\""));
        assert_true(negotiate_etag_match("W/\"abc\"", "\"abc\""));
        assert_true(negotiate_etag_match(" \"x\" ,  \"abc\" ", "\"abc\""));
        assert_true(negotiate_etag_match("*", "\"abc\""));
        assert_true(negotiate_etag_match(" * ", "\"abc\""));
        assert_false(negotiate_etag_match(NULL, "\"abc\""));
        assert_false(negotiate_etag_match("", "\"abc\""));
        assert_false(negotiate_etag_match("\"abcd\"", "\"abc\""));
        assert_false(negotiate_etag_match("\"ab\"", "\"abc\""));
        assert_false(negotiate_etag_match("abc", "\"abc\""));           /* no quotes */
        assert_false(negotiate_etag_match("\"abc", "\"abc\""));
        assert_false(negotiate_etag_match("\"a\"bc\"", "\"abc\""));
        assert_false(negotiate_etag_match("\"abc\"", "abc"));           /* our tag garbled */
        /* a garbled element ends the list: no match after it */
        assert_false(negotiate_etag_match("junk, \"abc\"", "\"abc\""));
        assert_false(negotiate_etag_match("\"\"", "\"abc\""));
        assert_true(negotiate_etag_match("\"\"", "\"\""));
}

static void test_too_long(void **state) {
        static char big[NEGOTIATE_MAX + 16];

        (void) state;
        memset(big, ' ', sizeof(big) - 1);
        memcpy(big, "gzip", 4);
        assert_false(negotiate_accepts_gzip(big));
        memcpy(big, "text/html", 9);
        assert_false(negotiate_accepts_html(big));
        memcpy(big, "\"abc\"    ", 9);
        assert_false(negotiate_etag_match(big, "\"abc\""));
        big[NEGOTIATE_MAX] = '\0';      /* exactly the maximum: read */
        assert_true(negotiate_etag_match(big, "\"abc\""));
}

int main(void) {
        const struct CMUnitTest t[] = {
                cmocka_unit_test(test_accept_html),
                cmocka_unit_test(test_accept_not_html),
                cmocka_unit_test(test_accept_encoding),
                cmocka_unit_test(test_etag),
                cmocka_unit_test(test_too_long),
        };
        return cmocka_run_group_tests(t, NULL, NULL);
}
