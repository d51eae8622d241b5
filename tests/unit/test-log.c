/* tests/unit/test-log.c: log lines: values from requests are escaped, so none can
 * forge a line or carry terminal escapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>
#include "common/log.h"

static void esc(const char *in, size_t len, const char *want) {
        char out[256];
        size_t n = log_escape(out, sizeof(out), in, len);
        assert_string_equal(out, want);
        assert_int_equal(n, strlen(want));
}

static void test_escape_controls(void **s) {
        (void) s;
        esc("plain /v2/a/b:c@d", 17, "plain /v2/a/b:c@d");
        esc("a\nb", 3, "a\\nb");
        esc("a\rb\tc", 5, "a\\rb\\tc");
        esc("\x1b[31mred", 8, "\\x1b[31mred");
        esc("\x01\x1f\x7f", 3, "\\x01\\x1f\\x7f");
        esc("a\\nb", 4, "a\\\\nb");               /* a literal backslash stays unambiguous */
        esc("a\0b", 3, "a\\x00b");
}

static void test_escape_non_ascii(void **s) {
        (void) s;
        esc("h\xc3\xa9llo", 6, "h\\xc3\\xa9llo");   /* UTF-8 is shown byte by byte */
        esc("\x9b" "31m", 4, "\\x9b31m");            /* 8-bit CSI */
        esc("\xe2\x80\xae", 3, "\\xe2\\x80\\xae");  /* U+202E right-to-left override */
}

static void test_escape_every_byte(void **s) {
        char in[256], out[LOG_ESCAPED_MAX(256)];
        (void) s;
        for (int i = 0; i < 256; i++)
                in[i] = (char) i;
        size_t n = log_escape(out, sizeof(out), in, sizeof(in));
        assert_int_equal(n, strlen(out));
        for (size_t i = 0; i < n; i++)
                assert_true(out[i] >= 0x20 && out[i] < 0x7f);
}

static void test_escape_never_cut_in_half(void **s) {
        char out[6];
        (void) s;
        /* "ab" fits, "\x1b" (4) would need 7 with the NUL: stop before it */
        assert_int_equal(log_escape(out, sizeof(out), "ab\x1b" "c", 4), 2);
        assert_string_equal(out, "ab");
        assert_int_equal(log_escape(out, 1, "abc", 3), 0);
        assert_string_equal(out, "");
}

/* log_msg's output for a message, read back from stderr */
static char *captured(const char *path_value) {
        char tmpl[] = "/tmp/test-log.XXXXXX";
        int fd = mkstemp(tmpl), saved;
        static char buf[16384];
        ssize_t n;

        assert_true(fd >= 0);
        unlink(tmpl);
        fflush(stderr);
        saved = dup(2);
        assert_true(dup2(fd, 2) == 2);
        log_msg(LOG_INFO, LOG_SRC_SERVER, "req=1 GET %s 404", path_value);
        fflush(stderr);
        assert_true(dup2(saved, 2) == 2);
        close(saved);
        n = pread(fd, buf, sizeof(buf) - 1, 0);
        close(fd);
        assert_true(n > 0);
        buf[n] = '\0';
        return buf;
}

static void test_log_line_cannot_be_forged(void **s) {
        const char *line;
        (void) s;
        log_max_level = LOG_INFO;
        line = captured("/v2/\n2026-01-01T00:00:00.000Z info auth: admin logged in\x1b[31m\r/x");
        /* one line: the only newline is the one that ends it */
        assert_non_null(strchr(line, '\n'));
        assert_int_equal(strchr(line, '\n') - line, (long) strlen(line) - 1);
        assert_null(strchr(line, '\x1b'));
        assert_null(strchr(line, '\r'));
        assert_non_null(strstr(line, " info server: req=1 GET /v2/\\n2026-01-01T00:00:00.000Z info auth: "
                                     "admin logged in\\x1b[31m\\r/x 404\n"));
}

static void test_log_long_message_stays_one_line(void **s) {
        char big[4000];
        const char *line;
        (void) s;
        memset(big, '\n', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        line = captured(big);
        assert_int_equal(strchr(line, '\n') - line, (long) strlen(line) - 1);
}

/* ---- JSON lines (--log-format json) ---- */

/* the line parses as one JSON object, ends with its only newline, is printable ASCII */
static json_t *parse_line(const char *line) {
        json_error_t e;
        json_t *j;
        size_t len = strlen(line);

        assert_true(len > 2);
        assert_int_equal(line[len - 1], '\n');
        assert_int_equal(strchr(line, '\n') - line, (long) len - 1);
        for (size_t i = 0; i + 1 < len; i++)
                assert_true(line[i] >= 0x20 && line[i] < 0x7f);
        j = json_loads(line, 0, &e);
        if (!j)
                fail_msg("not JSON (%s): %s", e.text, line);
        assert_true(json_is_object(j));
        return j;
}

static void test_json_line_fields(void **s) {
        static const char nasty[] = "/v2/a\"b\\c\n{\"level\":\"x\"}\x1b[31m\xc3\xa9\x7f";
        char line[4096], want[256];
        struct timespec ts = { 1767225600, 123456789 }; /* 2026-01-01 */
        const log_field_t f[] = {
                LOG_STR("method", "GET"), LOG_STR("route", "manifest-get"), LOG_STR("path", nasty),
                LOG_STR("user", NULL), LOG_INT("status", 404), LOG_DBL("duration_ms", 1.5),
        };
        size_t n;
        json_t *j;
        (void) s;

        n = log_json_line(line, sizeof(line), &ts, LOG_INFO, LOG_SRC_SERVER, "request", f, 6);
        assert_int_equal(n, strlen(line));
        j = parse_line(line);
        assert_string_equal(json_string_value(json_object_get(j, "time")), "2026-01-01T00:00:00.123Z");
        assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
        assert_string_equal(json_string_value(json_object_get(j, "component")), "server");
        assert_string_equal(json_string_value(json_object_get(j, "message")), "request");
        assert_string_equal(json_string_value(json_object_get(j, "method")), "GET");
        assert_string_equal(json_string_value(json_object_get(j, "route")), "manifest-get");
        assert_true(json_is_null(json_object_get(j, "user")));
        assert_int_equal(json_integer_value(json_object_get(j, "status")), 404);
        assert_true(json_real_value(json_object_get(j, "duration_ms")) == 1.5);
        /* the value decodes to what the text format shows: log_escape's form */
        (void) log_escape(want, sizeof(want), nasty, strlen(nasty));
        assert_string_equal(json_string_value(json_object_get(j, "path")), want);
        /* no key of the value got into the object */
        assert_int_equal(json_object_size(j), 10);
        json_decref(j);
}

static void test_json_line_every_byte(void **s) {
        char in[256], line[8192];
        struct timespec ts = { 0, 0 };
        json_t *j;
        (void) s;
        for (int i = 0; i < 255; i++)
                in[i] = (char) (i + 1);
        in[255] = '\0';
        (void) log_json_line(line, sizeof(line), &ts, LOG_ERR, LOG_SRC_AUTH, in,
                             (log_field_t[]) { LOG_STR("v", in) }, 1);
        j = parse_line(line);
        assert_string_equal(json_string_value(json_object_get(j, "level")), "error");
        assert_non_null(json_string_value(json_object_get(j, "v")));
        json_decref(j);
}

static void test_json_line_cut_short_stays_valid(void **s) {
        char big[3000], line[300];
        struct timespec ts = { 0, 0 };
        json_t *j;
        (void) s;
        for (size_t fill = 0; fill < 3; fill++) {
                memset(big, "\"\\\n"[fill], sizeof(big) - 1);
                big[sizeof(big) - 1] = '\0';
                for (size_t size = 256; size <= sizeof(line); size += 7) {
                        (void) log_json_line(line, size, &ts, LOG_INFO, LOG_SRC_SERVER, big,
                                             (log_field_t[]) { LOG_STR("a", big), LOG_INT("b", 1) }, 2);
                        assert_true(strlen(line) < size);
                        j = parse_line(line);
                        json_decref(j);
                }
        }
}

static void test_log_msg_json(void **s) {
        const char *line;
        json_t *j;
        (void) s;
        log_format = LOG_FORMAT_JSON;
        line = captured("/v2/\"x\n2026-01-01T00:00:00.000Z info auth: forged");
        log_format = LOG_FORMAT_TEXT;
        j = parse_line(line);
        assert_string_equal(json_string_value(json_object_get(j, "message")),
                            "req=1 GET /v2/\"x\\n2026-01-01T00:00:00.000Z info auth: forged 404");
        json_decref(j);
}

int main(void) {
        const struct CMUnitTest t[] = {
                cmocka_unit_test(test_escape_controls),
                cmocka_unit_test(test_escape_non_ascii),
                cmocka_unit_test(test_escape_every_byte),
                cmocka_unit_test(test_escape_never_cut_in_half),
                cmocka_unit_test(test_log_line_cannot_be_forged),
                cmocka_unit_test(test_log_long_message_stays_one_line),
                cmocka_unit_test(test_json_line_fields),
                cmocka_unit_test(test_json_line_every_byte),
                cmocka_unit_test(test_json_line_cut_short_stays_valid),
                cmocka_unit_test(test_log_msg_json),
        };
        return cmocka_run_group_tests(t, NULL, NULL);
}
