/* tests/unit/test-dbconf.c: --db / BERTH_DB values, the redaction of PostgreSQL URIs
 * for logs (no password in any reading of a URI), and BERTH_DB_PASSWORD_FILE. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "common/err.h"
#include "fixture.h"
#include "server/dbconf.h"

/* ---- dbconf_target ---- */

static void expect_target(const char *spec, const char *want) {
        char *t = NULL;

        assert_int_equal(dbconf_target(spec, "/srv/berth", &t), 0);
        assert_string_equal(t, want);
        free(t);
}

static void expect_invalid(const char *spec) {
        char *t = (char *) "untouched";

        assert_int_equal(dbconf_target(spec, "/srv/berth", &t), -EINVAL);
        assert_string_equal(t, "untouched"); /* no output on failure */
}

static void test_target_sqlite(void **state) {
        (void) state;
        expect_target(NULL, "/srv/berth/berth.db");
        expect_target("sqlite", "/srv/berth/berth.db");
        expect_target("sqlite:/var/db/meta.db", "/var/db/meta.db");
        expect_target("sqlite:relative.db", "relative.db");
}

static void test_target_pg(void **state) {
        (void) state;
        expect_target("postgresql://berth@db:5432/berth?sslmode=require",
                      "postgresql://berth@db:5432/berth?sslmode=require");
        expect_target("postgres://db/berth", "postgres://db/berth");
        expect_target("postgresql://", "postgresql://"); /* libpq's defaults */
}

static void test_target_invalid(void **state) {
        (void) state;
        expect_invalid("");
        expect_invalid("sqlite:");
        expect_invalid("SQLite");
        expect_invalid("/var/lib/berth/berth.db"); /* a path needs sqlite: */
        expect_invalid("mysql://db/berth");
        expect_invalid("postgresql:/db");
        expect_invalid("host=db dbname=berth"); /* libpq's key=value form: not a URI */
        expect_invalid("postgresql://db/berth\nforged log line");
        expect_invalid("postgresql://db/ber th");
}

/* ---- dbconf_redact ---- */

static void expect_redacted(const char *in, const char *want) {
        char *out = dbconf_redact(in);

        assert_non_null(out);
        assert_string_equal(out, want);
        /* whatever the reading, no secret word of the tests is left */
        assert_null(strstr(out, "s3cret"));
        free(out);
}

static void test_redact_userinfo(void **state) {
        (void) state;
        expect_redacted("postgresql://berth:s3cret@db.example:5432/berth?sslmode=require",
                        "postgresql://berth@db.example:5432/berth?sslmode=require");
        expect_redacted("postgres://berth:s3cret@db/berth", "postgres://berth@db/berth");
        expect_redacted("postgresql://berth:s3cret@h1:5432,h2:5433/berth", "postgresql://berth@h1:5432,h2:5433/berth");
        expect_redacted("postgresql://:s3cret@db", "postgresql://@db");
        expect_redacted("postgresql://berth@db/berth", "postgresql://berth@db/berth");
        expect_redacted("postgresql://db", "postgresql://db");
        expect_redacted("postgresql://", "postgresql://");
}

static void test_redact_params(void **state) {
        (void) state;
        expect_redacted("postgresql://db/berth?password=s3cret&sslmode=require", "postgresql://db/berth?sslmode=require");
        expect_redacted("postgresql://db/berth?sslmode=require&password=s3cret", "postgresql://db/berth?sslmode=require");
        expect_redacted("postgresql://db/berth?password=s3cret", "postgresql://db/berth");
        expect_redacted("postgresql://db/berth?password=s3cret&sslpassword=s3cret2", "postgresql://db/berth");
        expect_redacted("postgresql://db/berth?a=1&sslpassword=s3cret&b=2", "postgresql://db/berth?a=1&b=2");
        /* libpq decodes the key: so does the redaction */
        expect_redacted("postgresql://db/berth?pass%77ord=s3cret&application_name=x",
                        "postgresql://db/berth?application_name=x");
        expect_redacted("postgresql://db/berth?PassWord=s3cret", "postgresql://db/berth");
        /* a key that only contains the word stays */
        expect_redacted("postgresql://db/berth?application_name=password", "postgresql://db/berth?application_name=password");
        expect_redacted("postgresql://u:s3cret@db/berth?password=s3cret&connect_timeout=5",
                        "postgresql://u@db/berth?connect_timeout=5");
}

/* Characters a password should have had percent-encoded: libpq's reading and any
 * other leave nothing of it. */
static void test_redact_unencoded(void **state) {
        (void) state;
        expect_redacted("postgresql://u:pa/s3cret@db/berth", "postgresql://u@db/berth");
        expect_redacted("postgresql://u:pa?s3cret@db/berth", "postgresql://u@db/berth");
        expect_redacted("postgresql://u:pa@s3cret@db/berth", "postgresql://u@db/berth");
        expect_redacted("postgresql://u:pa?x/s3cret@db/berth", "postgresql://u@db/berth");
        /* an '@' in a parameter value is not user information */
        expect_redacted("postgresql://u:s3cret@db/berth?application_name=a@b",
                        "postgresql://u@db/berth?application_name=a@b");
        expect_redacted("postgresql://u@db?password=s3cret@x", "postgresql://u@db");
}

static void test_redact_sqlite(void **state) {
        char *out = dbconf_redact("/var/lib/berth/berth.db");

        (void) state;
        assert_string_equal(out, "/var/lib/berth/berth.db");
        free(out);
        assert_null(dbconf_redact(NULL));
}

/* ---- the password file ---- */

typedef struct {
        char dir[256];
        char path[300];
} pwfix_t;

static int pw_setup(void **state) {
        pwfix_t *f = calloc(1, sizeof(*f));

        if (!f || fx_tmpdir(f->dir, sizeof(f->dir), "dbconf") < 0 || fx_path(f->path, sizeof(f->path), f->dir, "pw") < 0)
                return -1;
        *state = f;
        return 0;
}

static int pw_teardown(void **state) {
        pwfix_t *f = *state;

        fx_rmtree(f->dir);
        free(f);
        return 0;
}

static void write_file(const char *path, const void *buf, size_t len, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, buf, len), (ssize_t) len);
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

static void expect_password(const char *path, const char *want, bool want_loose) {
        char *pw = NULL;
        bool loose = !want_loose;

        assert_int_equal(dbconf_password_file(path, &pw, &loose), 0);
        assert_string_equal(pw, want);
        assert_int_equal(loose, want_loose);
        free(pw);
}

static void test_password_newline(void **state) {
        pwfix_t *f = *state;

        write_file(f->path, "s3cret\n", 7, 0600);
        expect_password(f->path, "s3cret", false);
        write_file(f->path, "s3cret", 6, 0600);
        expect_password(f->path, "s3cret", false);
        write_file(f->path, "s3cret\r\n", 8, 0600);
        expect_password(f->path, "s3cret", false);
        write_file(f->path, "s3cret\n\n", 8, 0600); /* one newline only */
        expect_password(f->path, "s3cret\n", false);
        write_file(f->path, " s3 cret ", 9, 0600); /* spaces are the password's */
        expect_password(f->path, " s3 cret ", false);
}

static void test_password_modes(void **state) {
        pwfix_t *f = *state;

        write_file(f->path, "s3cret\n", 7, 0400);
        expect_password(f->path, "s3cret", false);
        /* group read: how a Kubernetes fsGroup hands a Secret to the pod */
        write_file(f->path, "s3cret\n", 7, 0440);
        expect_password(f->path, "s3cret", false);
        write_file(f->path, "s3cret\n", 7, 0644);
        expect_password(f->path, "s3cret", true);
}

static void test_password_refused(void **state) {
        pwfix_t *f = *state;
        char big[5000];
        char *pw = (char *) "untouched";

        assert_int_equal(dbconf_password_file(f->path, &pw, NULL), -ENOENT);
        write_file(f->path, "", 0, 0600);
        assert_int_equal(dbconf_password_file(f->path, &pw, NULL), -EINVAL);
        write_file(f->path, "\n", 1, 0600);
        assert_int_equal(dbconf_password_file(f->path, &pw, NULL), -EINVAL);
        write_file(f->path, "s3\0cret", 7, 0600);
        assert_int_equal(dbconf_password_file(f->path, &pw, NULL), -EINVAL);
        memset(big, 'x', sizeof(big));
        write_file(f->path, big, sizeof(big), 0600);
        assert_int_equal(dbconf_password_file(f->path, &pw, NULL), -E2BIG);
        assert_int_equal(dbconf_password_file(f->dir, &pw, NULL), -EINVAL); /* a directory */
        assert_string_equal(pw, "untouched");
}

/* ---- dbconf_resolve ---- */

/* Runs dbconf_resolve with stderr in a file; returns its result, *ret_err what it printed. */
static int resolve_capture(const char *dir, const char *spec, const char *what, const char *pwfile, dbconf_t *dc,
                           char **ret_err) {
        char path[300];
        int saved, fd, r;

        assert_int_equal(fx_path(path, sizeof(path), dir, "stderr"), 0);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        fflush(stderr);
        saved = dup(STDERR_FILENO);
        assert_true(saved >= 0);
        assert_true(dup2(fd, STDERR_FILENO) >= 0);
        r = dbconf_resolve(spec, what, dir, pwfile, dc);
        fflush(stderr);
        assert_true(dup2(saved, STDERR_FILENO) >= 0);
        close(saved);
        {
                off_t n = lseek(fd, 0, SEEK_END);
                char *buf = calloc(1, (size_t) n + 1);
                assert_non_null(buf);
                assert_int_equal(pread(fd, buf, (size_t) n, 0), (ssize_t) n);
                *ret_err = buf;
        }
        close(fd);
        return r;
}

static void test_resolve_invalid_is_redacted(void **state) {
        pwfix_t *f = *state;
        dbconf_t dc = { .target = NULL };
        char *err = NULL;

        assert_int_equal(resolve_capture(f->dir, "postgresql://u:s3cret@db/x y", "--db", NULL, &dc, &err), BERTH_ECONFIG);
        assert_non_null(strstr(err, "invalid value for --db"));
        assert_non_null(strstr(err, "postgresql://u@db/x y"));
        assert_null(strstr(err, "s3cret"));
        assert_null(dc.target);
        free(err);
        assert_int_equal(resolve_capture(f->dir, "mysql://db", "BERTH_DB", NULL, &dc, &err), BERTH_ECONFIG);
        assert_non_null(strstr(err, "invalid value for BERTH_DB: 'mysql://db'"));
        free(err);
        assert_int_equal(resolve_capture(f->dir, "", "db", NULL, &dc, &err), BERTH_ECONFIG);
        assert_non_null(strstr(err, "invalid value for --db: ''"));
        free(err);
}

static void test_resolve(void **state) {
        pwfix_t *f = *state;
        dbconf_t dc = { .target = NULL };
        char *err = NULL, want[300];

        /* the default: in the data directory; a password file is no business of SQLite's */
        assert_int_equal(resolve_capture(f->dir, NULL, NULL, "/nonexistent/pw", &dc, &err), 0);
        assert_int_equal(fx_path(want, sizeof(want), f->dir, "berth.db"), 0);
        assert_string_equal(dc.target, want);
        assert_string_equal(dc.display, want);
        assert_true(dc.in_data_dir);
        assert_false(dc.pg);
        assert_null(dc.password);
        assert_string_equal(err, "");
        free(err);
        dbconf_done(&dc);
        assert_null(dc.target);

        assert_int_equal(resolve_capture(f->dir, "sqlite:/tmp/elsewhere.db", "--db", NULL, &dc, &err), 0);
        assert_string_equal(dc.target, "/tmp/elsewhere.db");
        assert_false(dc.in_data_dir);
        free(err);
        dbconf_done(&dc);

        /* PostgreSQL: the URI as given, shown without its password; the file read */
        write_file(f->path, "fr0m-file\n", 10, 0644);
        assert_int_equal(resolve_capture(f->dir, "postgresql://u:s3cret@db/berth", "--db", f->path, &dc, &err), 0);
        assert_string_equal(dc.target, "postgresql://u:s3cret@db/berth");
        assert_string_equal(dc.display, "postgresql://u@db/berth");
        assert_true(dc.pg);
        assert_false(dc.in_data_dir);
        assert_string_equal(dc.password, "fr0m-file");
        assert_true(dc.password_loose);
        free(err);
        dbconf_done(&dc);

        /* a password file that cannot be read stops the start, named, not shown */
        write_file(f->path, "", 0, 0600);
        assert_int_equal(resolve_capture(f->dir, "postgresql://db/berth", "--db", f->path, &dc, &err), BERTH_ECONFIG);
        assert_non_null(strstr(err, "BERTH_DB_PASSWORD_FILE"));
        free(err);
        assert_null(dc.target);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_target_sqlite),
                cmocka_unit_test(test_target_pg),
                cmocka_unit_test(test_target_invalid),
                cmocka_unit_test(test_redact_userinfo),
                cmocka_unit_test(test_redact_params),
                cmocka_unit_test(test_redact_unencoded),
                cmocka_unit_test(test_redact_sqlite),
                cmocka_unit_test_setup_teardown(test_password_newline, pw_setup, pw_teardown),
                cmocka_unit_test_setup_teardown(test_password_modes, pw_setup, pw_teardown),
                cmocka_unit_test_setup_teardown(test_password_refused, pw_setup, pw_teardown),
                cmocka_unit_test_setup_teardown(test_resolve_invalid_is_redacted, pw_setup, pw_teardown),
                cmocka_unit_test_setup_teardown(test_resolve, pw_setup, pw_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
